#!/usr/bin/python3
"""bench/massif-diff.py BEFORE IDLE K [N]: heap bytes per session by
allocation site between two massif snapshots (bench/idle.sh MASSIF=1
writes massif.CONFIG.K.before and .idle). A site is the first frame
below the allocator wrappers (CRYPTO_zalloc, xmalloc, ...) and the first
frame of ours with a file:line; prints the N (30) largest."""
import re, sys, collections
ALLOC = ("CRYPTO_zalloc", "CRYPTO_malloc", "CRYPTO_realloc", "CRYPTO_memdup",
         "CRYPTO_strdup", "CRYPTO_strndup", "xmalloc", "xcalloc", "xrealloc",
         "xstrdup", "xstrndup", "mem_malloc", "mem_realloc", "sqlite3Malloc",
         "sqlite3MallocZero", "sqlite3DbMallocRaw", "sqlite3DbMallocZero",
         "sqlite3DbMallocRawNN", "sqlite3Realloc", "CRYPTO_clear_realloc")


def parse(path):
    lines = open(path).read().splitlines()
    # last detailed snapshot
    start = max(i for i, l in enumerate(lines) if l == "heap_tree=detailed")
    tree = lines[start + 1:]
    out = collections.Counter()

    def frame(desc):
        m = re.match(r"0x[0-9A-F]+: (.*)", desc)
        return m.group(1) if m else desc

    def walk(i, depth, path):
        l = tree[i]
        m = re.match(r"( *)n(\d+): (\d+) (.*)", l)
        n, b, desc = int(m.group(2)), int(m.group(3)), m.group(4)
        p = path + [frame(desc)] if depth > 0 else path
        i += 1
        child_sum = 0
        for _ in range(n):
            i, cb = walk(i, depth + 1, p)
            child_sum += cb
        rest = b - child_sum
        if rest > 0 and depth > 0:
            out[key(p)] += rest
        return i, b
    walk(0, 0, [])
    return out
def key(p):
    names = [re.sub(r" \(in .*\)", "", f) for f in p]
    j = 0
    while j < len(names) and names[j].split(" ")[0] in ALLOC:
        j += 1
    lib = names[j] if j < len(names) else "?"
    ours = next((f for f in names[j:] if re.search(r"\(\w+\.c:\d+\)", f)), "")
    if "below massif's threshold" in lib:
        lib = "(small, below threshold) " + (names[j - 1] if j else "")
    return (names[j - 1] if j else "") + " <- " + lib + "  @ " + ours
b = parse(sys.argv[1]); a = parse(sys.argv[2]); k = int(sys.argv[3])
keys = set(a) | set(b)
d = sorted(((a[x] - b[x]) / k, x) for x in keys)
d.reverse()
tot = sum(v for v, _ in d)
print(f"heap delta per session: {tot:.0f} B")
for v, x in d[:int(sys.argv[4]) if len(sys.argv) > 4 else 30]:
    print(f"{v:8.0f}  {x}")

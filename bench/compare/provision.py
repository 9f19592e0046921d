#!/usr/bin/python3
"""Create benchmark accounts for Prosody or ejabberd straight in their
SQLite stores, before a measurement (bench/compare.sh).

prosodyctl/ejabberdctl register start a VM or a Lua state per user (0.1 to
1 s each): 10,000 users would take hours. The stores keep SCRAM-SHA-1
credentials only (StoredKey, ServerKey, salt, iteration count), the same
thing both servers write when a user registers with the default settings,
so we compute them here (RFC 5802) and insert the rows in one transaction.
Each user gets its own random salt, as a real registration would.

usage: provision.py prosody|ejabberd DB DOMAIN PASSWORD ITER NAME...
       NAME is a user name or PREFIX{A..B} for PREFIXA..PREFIXB
"""
import base64
import hashlib
import hmac
import multiprocessing
import os
import re
import sqlite3
import sys
import uuid


def scram_keys(args):
    """(password, raw salt, iterations) -> (StoredKey, ServerKey)"""
    password, salt, iterations = args
    salted = hashlib.pbkdf2_hmac("sha1", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha1).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha1).digest()
    return hashlib.sha1(client_key).digest(), server_key


def expand(names):
    out = []
    for n in names:
        m = re.fullmatch(r"(.*)\{(\d+)\.\.(\d+)\}", n)
        if m:
            out += ["%s%d" % (m.group(1), i)
                    for i in range(int(m.group(2)), int(m.group(3)) + 1)]
        else:
            out.append(n)
    return out


def prosody(db, domain, users, salts, keys, iterations):
    # Prosody (mod_storage_sql) creates its tables when it first connects
    # and ignores the failure when they exist: make the key/value table
    # as it would, so the users are there before its first start.
    db.execute('create table if not exists "prosody" ("host" TEXT NOT NULL, '
               '"user" TEXT NOT NULL, "store" TEXT NOT NULL, "key" TEXT NOT '
               'NULL, "type" TEXT NOT NULL, "value" MEDIUMTEXT NOT NULL)')
    db.execute('create index if not exists "prosody_index" on "prosody" '
               '("host", "user", "store", "key")')
    rows = []
    for u, salt, (stored, server) in zip(users, salts, keys):
        fields = (("stored_key", "string", stored.hex()),
                  ("server_key", "string", server.hex()),
                  ("salt", "string", salt.decode()),
                  ("iteration_count", "number", str(iterations)))
        for key, typ, val in fields:
            rows.append((domain, u, "accounts", key, typ, val))
    db.executemany("delete from prosody where host=? and user=? and "
                   "store='accounts'", [(domain, u) for u in users])
    db.executemany('insert into prosody ("host","user","store","key","type",'
                   '"value") values (?,?,?,?,?,?)', rows)


def ejabberd(db, domain, users, salts, keys, iterations):
    # ejabberd's old SQL schema (lite.sql, new_sql_schema: false), the
    # columns ejabberd_auth_sql fills for auth_password_format: scram with
    # the default SHA-1 hash: base64 StoredKey, ServerKey and salt.
    b64 = lambda b: base64.b64encode(b).decode()
    db.executemany("insert or replace into users (username, password, "
                   "serverkey, salt, iterationcount) values (?,?,?,?,?)",
                   [(u, b64(st), b64(sv), b64(salt), iterations)
                    for u, salt, (st, sv) in zip(users, salts, keys)])


def main():
    if len(sys.argv) < 7 or sys.argv[1] not in ("prosody", "ejabberd"):
        sys.exit(__doc__)
    kind, path, domain, password = sys.argv[1:5]
    iterations = int(sys.argv[5])
    users = expand(sys.argv[6:])
    if kind == "prosody":
        # Prosody's own salts are UUID strings used as they are.
        salts = [str(uuid.uuid4()).encode() for _ in users]
    else:
        salts = [os.urandom(16) for _ in users]
    with multiprocessing.Pool(min(2, os.cpu_count() or 1)) as pool:
        keys = pool.map(scram_keys, [(password, s, iterations)
                                     for s in salts], chunksize=256)
    db = sqlite3.connect(path, timeout=30)
    with db:
        (prosody if kind == "prosody" else ejabberd)(
            db, domain, users, salts, keys, iterations)
    db.close()
    print("provision: %d %s users in %s" % (len(users), kind, path))


if __name__ == "__main__":
    main()

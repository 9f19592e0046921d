/* mem.h: FOR TESTS ONLY. Failure injection into the in-memory backend
 * (mem.c, "storage: { backend: memory }"), so unit tests can make a
 * write, a read or a commit fail and check what store.c does then, and
 * deferred answers to store_load_async. ternd calls only
 * store_mem_defer, for "storage: { deferred_loads: true }". */
#ifndef TERN_STORE_MEM_H
#define TERN_STORE_MEM_H

struct store;

enum store_mem_fault {
	/* a read (get, list, count, query, bytes) returns -1 */
	STORE_MEM_FAIL_READ,
	/* a write returns -1 and changes nothing; the transaction stays
	 * open with the earlier writes (an SQLite statement error) */
	STORE_MEM_FAIL_WRITE,
	/* a write returns -1 and the whole transaction is rolled back (what
	 * SQLite does by itself after some I/O errors) */
	STORE_MEM_FAIL_WRITE_ABORT,
	/* a commit returns -1; the transaction is rolled back (a failed
	 * COMMIT, as in sqlite.c) */
	STORE_MEM_FAIL_COMMIT,
	STORE_MEM_NFAULTS
};

/* Calls of that kind on st first succeed skip times, then the next count
 * fail (count 0 disarms it). Returns -1 if st is not a memory store. */
int store_mem_fail(
    struct store *st, enum store_mem_fault f, int skip, int count);

/* on: store_load_async answers on the loop's next iteration (a timer),
 * or when store_mem_complete is called, never inline; off answers what
 * is waiting and goes back to inline answers. -1 if st is not a memory
 * store. */
int store_mem_defer(struct store *st, int on);
/* Answer the loads waiting now (not those their callbacks ask): how
 * many, or -1 if st is not a memory store. */
int store_mem_complete(struct store *st);

#endif

/* mem.h: FOR TESTS ONLY. Failure injection into the in-memory backend
 * (mem.c, "storage: { backend: memory }"), so unit tests can make a
 * write, a read or a commit fail and check what store.c does then. Never
 * called by ternd itself. */
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

#endif

#!/usr/bin/python3
"""archived.py DB: print how many MAM items ternd's SQLite store DB holds.

bench/run-compare.sh runs it (COUNT_ARCHIVED) before and after each msg
run: the difference says whether the server archived the messages. The
database is opened read-only, beside the running ternd (WAL: readers do
not block it). Prints nothing and exits 1 when there is no archive table.
"""
import sqlite3
import sys

db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True, timeout=10)
for table in ("archive_item", "archive"):  # schema 2, schema 1
    try:
        print(db.execute("SELECT count(*) FROM %s" % table).fetchone()[0])
        sys.exit(0)
    except sqlite3.OperationalError:
        continue
sys.exit(1)

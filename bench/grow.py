#!/usr/bin/env python3
"""Grows a seeded AHS IAM SQLite database for the cost-growth benchmark (bench/growth.sh).

    bench/grow.py DB_PATH [--users 1000000] [--clients 100000] [--refresh-tokens 1000000]

Each table grows by copies of one of its own rows (so every NOT NULL column and every foreign key
holds a real value, and every account shares the seeded account's precomputed password hash):
the columns of the primary key and of every unique index get a numbered suffix, the rest are
copied. The benchmark's own users and client stay as they were. Then it prints the query plans of
the hot queries, so that a full scan shows before it shows in a figure.
"""

import argparse
import sqlite3
import time


def unique_columns(db, table):
    cols = {r[1] for r in db.execute(f"PRAGMA table_info({table})") if r[5]}
    for idx in db.execute(f"PRAGMA index_list({table})"):
        if idx[2]:  # unique
            cols |= {r[2] for r in db.execute(f"PRAGMA index_info({idx[1]})")}
    return cols


def grow(db, table, n, where="1=1", tag="g"):
    if n <= 0:
        return
    columns = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
    unique = unique_columns(db, table)
    template = db.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE {where} LIMIT 1").fetchone()
    if template is None:
        raise SystemExit(f"{table} has no row to copy")
    positions = [i for i, c in enumerate(columns) if c in unique]
    started = time.time()
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    batch = []
    for i in range(n):
        row = list(template)
        for p in positions:
            row[p] = f"{row[p]}-{tag}{i}"
        batch.append(row)
        if len(batch) == 50_000:
            db.executemany(sql, batch)
            batch.clear()
    if batch:
        db.executemany(sql, batch)
    db.commit()
    print(f"{table}: +{n} rows in {time.time() - started:.1f} s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("db")
    ap.add_argument("--users", type=int, default=1_000_000)
    ap.add_argument("--clients", type=int, default=100_000)
    ap.add_argument("--refresh-tokens", type=int, default=1_000_000)
    a = ap.parse_args()
    db = sqlite3.connect(a.db)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = OFF")
    grow(db, "users", a.users)
    grow(db, "clients", a.clients, where="id NOT LIKE 'iam-%'")
    # Refresh tokens need a grant: each copy points at a grant of its own.
    if a.refresh_tokens > 0:
        if db.execute("SELECT COUNT(*) FROM refresh_tokens").fetchone()[0] == 0:
            raise SystemExit("refresh_tokens is empty: run the refresh benchmark once first")
        first = db.execute("SELECT token_hash, grant_id FROM refresh_tokens LIMIT 1").fetchone()
        grow(db, "grants", a.refresh_tokens, where=f"id = '{first[1]}'", tag="r")
        grow(db, "refresh_tokens", a.refresh_tokens, where=f"token_hash = '{first[0]}'", tag="r")
        # Point each copied token at its own copied grant (same suffix), as in real life.
        db.execute(
            "UPDATE refresh_tokens SET grant_id = grant_id || substr(token_hash, instr(token_hash, '-r')) "
            "WHERE instr(token_hash, '-r') > 0"
        )
        db.commit()
    db.execute("ANALYZE")
    db.commit()
    for table in ["users", "clients", "grants", "refresh_tokens"]:
        print(f"{table}: {db.execute(f'SELECT COUNT(*) FROM {table}').fetchone()[0]} rows")
    hot = {
        "client by id (every token request)": "SELECT * FROM clients WHERE id = 'x'",
        "account by username (sign-in)": "SELECT * FROM users WHERE username = 'x'",
        "account by id (code exchange, userinfo)": "SELECT * FROM users WHERE id = 'x'",
        "grant by id (introspection, userinfo)": "SELECT revoked_at FROM grants WHERE id = 'x'",
        "client's current grant (client_credentials)": (
            "SELECT id FROM grants WHERE client_id = 'x' AND created_at > '2026-01-01' "
            "AND user_id IS NULL AND revoked_at IS NULL ORDER BY created_at DESC LIMIT 1"
        ),
        "refresh token by digest (refresh)": "SELECT * FROM refresh_tokens WHERE token_hash = 'x'",
        "code by digest (code exchange)": "SELECT * FROM auth_codes WHERE code_hash = 'x'",
        "session by digest (authorize)": "SELECT * FROM sessions WHERE secret_hash = 'x'",
    }
    for name, q in hot.items():
        try:
            plan = "; ".join(r[3] for r in db.execute("EXPLAIN QUERY PLAN " + q))
        except sqlite3.Error as e:
            plan = f"(not applicable: {e})"
        print(f"plan  {name}: {plan}")


if __name__ == "__main__":
    main()

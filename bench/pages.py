"""Every list and home page of the portal and the back office at scale (#10), against its raw SQL.

Run on a database built by bench/seed_scale.py (same DATABASE_URL). Each page is requested through
the Flask test client as the user who reads it (the pages of tests/test_query_counts.py, so a new
list joins here too, plus searches and deep pages). For every page and every run, interleaved:

1. the page: wall time of the request, its number of queries, the bytes of HTML;
2. its raw SQL: the very statements the page sent, with the same parameters, replayed on a bare
   DB-API cursor (fetchall), timed — the cost of the rows without the ORM, the view and the template.

It prints one table: median page time, median raw-SQL time, the ratio, queries, KB, and whether
each target holds (#10): page ≤ 3 × raw SQL + 10 ms and ≤ 8 queries on list pages (the query-count
suite's budget elsewhere); the review queue ≤ 25 ms on SQLite; the enterprise's staff page
(5,000 staff) ≤ 50 ms and ≤ 100 KB.

    DATABASE_URL=sqlite:////tmp/scale.db .venv/bin/python bench/pages.py [--runs 20] [--only review]
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/scale .venv/bin/python bench/pages.py
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import event

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from seed_scale import OOP_OWNER_PHONE, OWNER_PHONE, PASSWORD, build_app  # noqa: E402

from app import db  # noqa: E402

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
# The bench's user for each role of the query-count suite.
USERS = {
    "owner": (OWNER_PHONE, "enterprise"),
    "oop_owner": (OOP_OWNER_PHONE, "enterprise"),
    "Reviewer": ("bench-reviewer", "association"),
    "AssociationAdmin": ("bench-assoc", "association"),
    "Admin": ("bench-admin", "association"),
}
# Searches and deep pages beside each list's first page: (role, url, query budget).
EXTRA_PAGES = [
    ("owner", "/training/?page=60", 8),
    ("owner", "/training/?q=张伟", 8),
    ("Reviewer", "/backoffice/review/membership/?page=200", 8),
    ("Reviewer", "/backoffice/review/membership/?status=all&enterprise=安泰", 8),
    ("Reviewer", "/backoffice/review/membership/?status=all&enterprise=10293", 8),
    ("Reviewer", "/backoffice/review/change/?status=submitted", 8),
    ("Reviewer", "/backoffice/review/membership/?status=waiting&submitted=long", 8),
    ("Reviewer", "/backoffice/staff/?q=张伟", 8),
    ("Reviewer", "/backoffice/staff/?q=张伟明", 8),
    ("Reviewer", "/backoffice/staff/?q=32010", 8),
    ("AssociationAdmin", "/backoffice/audit/list/?page_AuditLogView=1000", 8),
]
LIST_BUDGET = 8
QUEUE_SQLITE_MS = 25.0
STAFF_PAGE_MS = 50.0
STAFF_PAGE_KB = 100.0


class Client(FlaskClient):
    """Each request in its own app context, as in production (a fresh session and `g`)."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@dataclass
class Measure:
    role: str
    url: str
    budget: int
    page_ms: list[float] = field(default_factory=list)
    raw_ms: list[float] = field(default_factory=list)
    queries: int = 0
    size: int = 0
    status: int = 0

    @property
    def page(self) -> float:
        return statistics.median(self.page_ms)

    @property
    def raw(self) -> float:
        return statistics.median(self.raw_ms)

    def verdicts(self, dialect: str) -> list[str]:
        """The targets this page misses (empty when all hold)."""
        missed = []
        if self.status != 200:
            missed.append(f"HTTP {self.status}")
        if self.page > 3 * self.raw + 10:
            missed.append("> 3×raw+10ms")
        if self.queries > self.budget:
            missed.append(f"> {self.budget} queries")
        path = self.url.split("?")[0]
        if dialect == "sqlite" and path.startswith("/backoffice/review/") and path != "/backoffice/review/":
            if self.page > QUEUE_SQLITE_MS:
                missed.append(f"> {QUEUE_SQLITE_MS:.0f}ms")
        if path == "/training/":
            if self.page > STAFF_PAGE_MS:
                missed.append(f"> {STAFF_PAGE_MS:.0f}ms")
            if self.size / 1024 > STAFF_PAGE_KB:
                missed.append(f"> {STAFF_PAGE_KB:.0f}KB")
        return missed


def sign_in(app, role: str) -> FlaskClient:
    username, kind = USERS[role]
    client = Client(app, app.response_class, use_cookies=True)
    page = client.get("/login/").get_data(as_text=True)
    token = CSRF_RE.search(page).group(1)
    response = client.post(
        "/login/", data={"user_kind": kind, "username": username, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302, f"{username} could not sign in"
    return client


def pages() -> list[tuple[str, str, int]]:
    from test_query_counts import LIST_PAGES

    listed = [(role, url.format(batch=1), budget) for role, url, _grow, budget in LIST_PAGES]
    return listed + EXTRA_PAGES


def measure_once(client: FlaskClient, measure: Measure, record: list) -> None:
    """One request of the page, then its statements replayed raw, timed apart."""
    record.clear()
    started = time.perf_counter()
    response = client.get(measure.url)
    measure.page_ms.append((time.perf_counter() - started) * 1000)
    body = response.get_data()
    measure.status, measure.size, measure.queries = response.status_code, len(body), len(record)
    statements = [(s, p) for s, p in record if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    connection = db.engine.raw_connection()
    try:
        cursor = connection.cursor()
        started = time.perf_counter()
        for statement, parameters in statements:
            cursor.execute(statement, parameters)
            cursor.fetchall()
        measure.raw_ms.append((time.perf_counter() - started) * 1000)
        cursor.close()
        connection.rollback()
    finally:
        connection.close()


def explain(url: str, statements: list, dialect: str) -> None:
    """Each statement of the page with its query plan (EXPLAIN QUERY PLAN / EXPLAIN ANALYZE)."""
    print(f"### {url}")
    prefix = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN (ANALYZE, COSTS OFF) "
    connection = db.engine.raw_connection()
    try:
        cursor = connection.cursor()
        for statement, parameters in statements:
            print("  " + " ".join(statement.split())[:300])
            if statement.lstrip().upper().startswith("SELECT"):
                cursor.execute(prefix + statement, parameters)
                for row in cursor.fetchall():
                    print("      " + " ".join(str(part) for part in row))
        connection.rollback()
    finally:
        connection.close()


def profile(client: FlaskClient, url: str, runs: int) -> None:
    """The functions a page spends its time in, over `runs` requests (own time and cumulative)."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _run in range(runs):
        client.get(url)
    profiler.disable()
    print(f"### {url}")
    for order in ("tottime", "cumulative"):
        pstats.Stats(profiler, stream=sys.stdout).strip_dirs().sort_stats(order).print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--only", help="measure only the pages whose address contains this")
    parser.add_argument("--explain", action="store_true", help="print each page's statements and query plans")
    parser.add_argument("--profile", action="store_true", help="print where each page's Python time goes (cProfile)")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL")
    if not url:
        parser.error("set DATABASE_URL to a database built by bench/seed_scale.py")
    app = build_app(url)
    app.config["WTF_CSRF_ENABLED"] = True
    with app.app_context():
        dialect = db.engine.dialect.name
        version = ".".join(map(str, db.engine.dialect.server_version_info or ()))
        record: list = []

        def on_execute(conn, cursor, statement, parameters, context, executemany):
            record.append((statement, parameters))

        event.listen(db.engine, "before_cursor_execute", on_execute)
        clients = {role: sign_in(app, role) for role in USERS}
        measures = [Measure(role, url, budget) for role, url, budget in pages() if not args.only or args.only in url]
        for measure in measures:  # warm-up: caches, compiled statements, the first page of each user
            clients[measure.role].get(measure.url)
        if args.explain:
            for measure in measures:
                record.clear()
                clients[measure.role].get(measure.url)
                explain(measure.url, list(record), dialect)
        if args.profile:
            for measure in measures:
                profile(clients[measure.role], measure.url, args.runs)
        started = time.perf_counter()
        for _run in range(args.runs):
            for measure in measures:
                measure_once(clients[measure.role], measure, record)
        event.remove(db.engine, "before_cursor_execute", on_execute)
    print(f"== {dialect} {version}: median of {args.runs} runs ({time.perf_counter() - started:.0f}s)")
    header = f"{'page':<62} {'role':<16} {'page ms':>8} {'raw ms':>7} {'ratio':>6} {'queries':>7} {'KB':>6}  target"
    print(header)
    print("-" * len(header))
    missed_any = 0
    for m in measures:
        missed = m.verdicts(dialect)
        missed_any += bool(missed)
        ratio = m.page / m.raw if m.raw else float("inf")
        print(
            f"{m.url[:62]:<62} {m.role:<16} {m.page:>8.1f} {m.raw:>7.1f} {ratio:>5.1f}x {m.queries:>7} "
            f"{m.size / 1024:>6.1f}  {'ok' if not missed else 'MISSED ' + ', '.join(missed)}"
        )
    print(f"{len(measures) - missed_any} of {len(measures)} pages within target")


if __name__ == "__main__":
    main()

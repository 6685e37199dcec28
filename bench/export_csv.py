"""Benchmark of 导出 CSV: the review queue's export of 100,000 rows against the floor, a raw streamed
fetch of the same rows written with csv.writer.

Prints the page's export time (the /csv route through the test client: filters, scope, labels,
Asia/Shanghai times, neutralised cells, audit), the raw time (the same SELECT executed with a
server-side cursor and each tuple written by csv.writer, BOM included, nothing formatted), their
ratio (the issue's bound: 1.5), and each one's peak Python memory (tracemalloc, a second run).

Without DATABASE_URL a temporary SQLite database is seeded with 100,000 membership applications
(and 2,000 enterprises); with DATABASE_URL an empty database is seeded the same way, and one that
already holds applications (bench/seed_scale.py) is reused: the export is then of every membership
application (?status=all).

    .venv/bin/python bench/export_csv.py
    createdb -h 127.0.0.1 -U postgres export_bench
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/export_bench .venv/bin/python bench/export_csv.py
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from app import MIGRATIONS_DIR, create_app, db  # noqa: E402

ROWS = 100_000
ENTERPRISES = 2_000
URL = "/backoffice/review/membership/csv?status=all"


def build_app(url: str):
    workdir = Path(tempfile.mkdtemp(prefix="bench-export-"))
    app = create_app(
        "config.Config",
        SQLALCHEMY_DATABASE_URI=url,
        SECRET_KEY="bench",
        TESTING=True,
        WTF_CSRF_ENABLED=False,
        INSTANCE_PATH=str(workdir),
        UPLOAD_ROOT=str(workdir / "uploads"),
        RATELIMIT_STORAGE_URI="memory://",
    )
    logging.getLogger("flask_appbuilder").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return app


def seed() -> None:
    """2,000 enterprises and 100,000 submitted membership applications, by Core multi-row inserts."""
    from seed_scale import credit_code, insert

    from app.models import MemberTier

    now = dt.datetime(2026, 6, 1, 8, 0)
    tier = db.session.scalar(select(MemberTier.id).order_by(MemberTier.id))
    insert(
        "enterprise",
        (
            {
                "id": eid,
                "name": f"合肥安泰安防工程有限公司{eid}",
                "credit_code": credit_code(eid),
                "region_code": "340104",
                "province": "安徽省",
                "city": "合肥市",
                "district": "蜀山区",
                "contact_person": "联系人",
                "mobile": f"139{eid:08d}",
                "created_on": now,
                "changed_on": now,
            }
            for eid in range(1, ENTERPRISES + 1)
        ),
    )
    insert(
        "application",
        (
            {
                "id": aid,
                "kind": "membership",
                "enterprise_id": 1 + aid % ENTERPRISES,
                "status": "submitted" if aid % 3 else "received",
                "version": 1,
                "submitted_on": now - dt.timedelta(minutes=aid),
                "created_on": now - dt.timedelta(minutes=aid + 60),
                "changed_on": now,
            }
            for aid in range(1, ROWS + 1)
        ),
    )
    insert(
        "membership_application",
        (
            {
                "id": aid,
                "tier_id": tier,
                "legal_person": "法人",
                "registered_capital": 500,
                "employees": 40,
                "technical_staff": 10,
                "main_business": "安防工程设计与施工",
                "contact_person": "联系人",
                "contact_phone": f"139{aid:08d}",
            }
            for aid in range(1, ROWS + 1)
        ),
    )


def page_export(client) -> int:
    response = client.get(URL)
    assert response.status_code == 200, response.status_code
    size = 0
    for chunk in response.response:
        size += len(chunk)
    response.close()
    return size


def raw_export(app) -> int:
    """The floor: the export's own SELECT, streamed, each tuple straight into csv.writer."""
    from flask import g

    from app.models import PlatformUser
    from app.views.review import ReviewQueueView, queue_export_fields
    from app.workflows import REGISTRY

    workflow = REGISTRY["membership"]
    with app.test_request_context(URL):
        g.user = db.session.scalar(select(PlatformUser).where(PlatformUser.username == "bench-export"))
        query, order, _status = ReviewQueueView._filtered(None, workflow)
        fields = queue_export_fields(workflow)
        statement = query.order_by(None).order_by(*order).with_only_columns(*(f.expr for f in fields))
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        buffer.write("\ufeff")
        size = 0
        result = db.session.execute(statement.execution_options(yield_per=500, stream_results=True))
        for rows in result.partitions():
            writer.writerows(rows)
            size += len(buffer.getvalue().encode())
            buffer.seek(0)
            buffer.truncate()
        result.close()
        db.session.rollback()
    return size


def timed(function, *args) -> tuple[float, int]:
    started = time.perf_counter()
    size = function(*args)
    return time.perf_counter() - started, size


def peak(function, *args) -> float:
    tracemalloc.start()
    function(*args)
    _current, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return top / 2**20


def main() -> None:
    from flask_migrate import upgrade

    from app.models import Application
    from app.roles import sync_roles
    from app.settings import seed_defaults

    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp(prefix='bench-export-db-')}/export.db"
    app = build_app(url)
    with app.app_context():
        upgrade(directory=MIGRATIONS_DIR)
        sync_roles(app.appbuilder)
        seed_defaults()
        db.session.commit()
        kind = Application.kind == "membership"
        if not db.session.scalar(select(func.count()).select_from(Application).where(kind)):
            print(f"seeding {ROWS:,} membership applications …", flush=True)
            seed()
        rows = db.session.scalar(select(func.count()).select_from(Application).where(kind))
        dialect = db.engine.dialect.name
        sm = app.appbuilder.sm
        if sm.find_user(username="bench-export") is None:
            reviewer = sm.find_role("Reviewer")
            sm.add_user("bench-export", "导出", "基准", "bench-export@example.com", reviewer, "Bench1234pass")
        db.session.commit()
    client = app.test_client()
    with app.app_context():
        credentials = {"user_kind": "association", "username": "bench-export", "password": "Bench1234pass"}
        response = client.post("/login/", data=credentials)
        assert response.status_code == 302, "bench-export could not sign in"

    def export_page() -> int:
        with app.app_context():
            return page_export(client)

    def export_raw() -> int:
        with app.app_context():
            return raw_export(app)

    export_page(), export_raw()  # warm-up: caches, templates, the first connection
    page_time, page_bytes = min((timed(export_page) for _ in range(3)), key=lambda t: t[0])
    raw_time, raw_bytes = min((timed(export_raw) for _ in range(3)), key=lambda t: t[0])
    page_peak, raw_peak = peak(export_page), peak(export_raw)
    print(f"{dialect}: {rows:,} rows")
    print(f"  page export  {page_time:6.2f} s  {page_bytes / 2**20:6.1f} MiB written  peak {page_peak:5.1f} MiB")
    print(f"  raw floor    {raw_time:6.2f} s  {raw_bytes / 2**20:6.1f} MiB written  peak {raw_peak:5.1f} MiB")
    print(f"  ratio        {page_time / raw_time:6.2f}  (bound: 1.5)")


if __name__ == "__main__":
    main()

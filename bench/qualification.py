"""Benchmark of the qualification life cycle (issue #8 §6): queries and time against the raw SQL.

1. The rule evaluation of a 一级 application (verdict(): people() + evaluate(), the 黄色文字提示 and
   the reviewer's verdict) for enterprises with 50, 500 and 5,000 staff, a third of them holding
   certificates (some expired), a quarter with a training result: the number of queries (counted
   with a before_cursor_execute listener, loading the application included) and the time, against
   the raw SQL that fetches the same staff, certificate and training rows.
2. The 资质申请 review queue (/backoffice/review/qualification_new/, the Flask test client signed in
   as a Reviewer) at 100,000 applications over 20,000 enterprises: queries per page for several
   page sizes, deep pages and filters, against the raw SQL of the same page (its count and rows).

Each run builds its own throw-away database with `flask db upgrade`, roles and `flask seed`: a
SQLite file in a temporary directory, and with --postgres a database created (and dropped) on that
server. Rows are written with multi-row inserts, never ORM objects one by one.

    .venv/bin/python bench/qualification.py [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
        [--staff 50 500 5000] [--applications 100000] [--enterprises 20000] [-v]

-v prints the statements of one evaluation and of one queue page.

After the rule evaluation became three column queries (commit "Rule evaluation reads staff, …"),
the evaluation is 10 queries at every size (SQLite, same noisy machine): 50 staff 3.8 ms, 500 staff
8.1 ms, 5,000 staff 158 ms against 28 ms of raw SQL. The run below is the one before that change.

Measured 2026-11-29 on the 2-core development machine while other test suites ran (load average
about 4.5, so the times are noisy; the query counts are not), SQLite 3.40 and PostgreSQL 15, best of
5 each, the whole run 62 s (stderr, the migrations' log, sent to /dev/null):

    == sqlite 3.40.1
    1. Rule evaluation of a 一级 application (verdict() = people() + evaluate()), best of 5
      staff  queries  of which certificates  lines met    verdict  people()  evaluate()   raw SQL  verdict/raw
         50       10                      1       9/10      4.3ms     1.6ms       0.4ms     0.2ms        17.2x
        500       10                      1       9/10     18.1ms    12.8ms       2.3ms     1.0ms        17.4x
       5000       19                     10       9/10    385.1ms   299.2ms      20.8ms     8.5ms        45.1x
    2. 资质申请 review queue: 100,000 applications over 20,000 enterprises (45,003 open; built in 1.5s), best of 5
    page                          size  rows  queries  page time  raw count  raw rows  page/raw
    first page (open)               10    10        7     61.3ms     25.5ms    27.5ms      1.2x
    first page (open)               50    50        7     65.8ms     25.3ms    28.7ms      1.2x
    first page (open)              200   200        7     82.3ms     25.6ms    30.5ms      1.5x
    page 450 (open)                 50    50        7    246.1ms     25.1ms   169.5ms      1.3x
    one enterprise's name           50     5        7     90.5ms     30.2ms    30.3ms      1.5x
    == postgresql 15.20
    1. Rule evaluation of a 一级 application (verdict() = people() + evaluate()), best of 5
      staff  queries  of which certificates  lines met    verdict  people()  evaluate()   raw SQL  verdict/raw
         50       10                      1       9/10      7.1ms     2.7ms       0.4ms     1.7ms         4.3x
        500       10                      1       9/10     23.7ms    14.4ms       2.7ms     2.9ms         8.1x
       5000       19                     10       9/10    325.3ms   274.6ms      32.5ms    13.4ms        24.2x
    2. 资质申请 review queue: 100,000 applications over 20,000 enterprises (45,003 open; built in 6.4s), best of 5
    page                          size  rows  queries  page time  raw count  raw rows  page/raw
    first page (open)               10    10        7    187.2ms     83.4ms   122.2ms      0.9x
    first page (open)               50    50        7    212.2ms    107.1ms   136.5ms      0.9x
    first page (open)              200   200        7    251.5ms     83.5ms   110.7ms      1.3x
    page 450 (open)                 50    50        7    316.9ms    106.5ms   132.9ms      1.3x
    one enterprise's name           50     5        7     71.3ms     25.8ms    33.4ms      1.2x

Read: the evaluation is constant (10 queries) up to 500 staff but not beyond, because
selectinload(TechnicalStaff.certificates) sends one IN query per 500 staff (19 queries at 5,000);
people() builds full ORM objects and is most of the time (24-45x the raw SQL at 5,000). The queue
keeps 7 queries whatever the page size, page or filter, within 1.5x its own SQL, but that SQL is
itself slow at 100,000: the count joins enterprise and qualification_application although the
default filter needs neither, kind+status have no common index, and ORDER BY
coalesce(submitted_on, created_on) sorts every open row (SQLite: USE TEMP B-TREE FOR ORDER BY).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import create_engine, event, func, insert, select, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import MIGRATIONS_DIR, create_app, db  # noqa: E402

REPEATS = 5
CHUNK = 10_000
PASSWORD = "Bench1234pass"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
TITLES = ("工程师", "助理工程师", "工程师", "无", "助理工程师", "高级工程师", "工程师", "无")
POSITIONS = ("施工员", "设计员", "安全员", "施工员", "质检员", "技术负责人", "施工员", "资料员")
# status -> share of the 100,000 applications (open ones first, as a queue has them)
STATUS_MIX = (
    ("submitted", 25),
    ("received", 10),
    ("returned", 5),
    ("draft", 5),
    ("approved", 45),
    ("refused", 5),
    ("withdrawn", 5),
)


class IsolatedClient(FlaskClient):
    """Each request in its own app context, as in production (not sharing the bench's session)."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@contextmanager
def count_queries() -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def best(run: Callable[[], object], repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}ms"


def insert_rows(table, rows: list[dict]) -> None:
    """Multi-row inserts in chunks (executemany; insertmanyvalues on PostgreSQL)."""
    for start in range(0, len(rows), CHUNK):
        db.session.execute(insert(table), rows[start : start + CHUNK])


# --- the data --------------------------------------------------------------------------------------


def add_enterprises(count: int, prefix: str) -> list[int]:
    from app.models import Enterprise

    before = db.session.scalar(select(func.coalesce(func.max(Enterprise.id), 0)))

    regions = (("340104", "安徽省", "合肥市", "蜀山区"), ("320102", "江苏省", "南京市", "玄武区"))
    rows = []
    for i in range(count):
        code, province, city, district = regions[i % 10 == 0]
        rows.append(
            dict(
                name=f"{prefix}安防工程有限公司{i:05d}",
                credit_code=f"91340104MA{before + i + 1:08d}",
                region_code=code,
                province=province,
                city=city,
                district=district,
                registered_capital=1200,
            )
        )
    insert_rows(Enterprise.__table__, rows)
    return list(db.session.scalars(select(Enterprise.id).where(Enterprise.id > before).order_by(Enterprise.id)))


def level_with_every_kind_of_line():
    """一级 as seeded, plus a certificate line and a training line so that every test of matches() runs."""
    from app.models import QualificationLevel, StaffingRule

    level = db.session.scalar(select(QualificationLevel).where(QualificationLevel.code == "L1"))
    lines = (
        dict(certificate_kind="安全员证", certificate_grade="C", min_insurance_months=6, min_count=5),
        dict(training_passed=True, positions="施工员,安全员", min_count=3),
    )
    for order, line in enumerate(lines, start=10):
        db.session.execute(
            insert(StaffingRule.__table__).values(
                {"level_id": level.id, "requires_credential": False, "training_passed": False, "sort_order": order}
                | line
            )
        )
    db.session.commit()
    return level


def add_staffed_application(size: int, level_id: int, batch_id: int) -> int:
    """An enterprise with `size` staff, all counted in a draft 资质申请 for `level_id`; its id."""
    from app.models import (
        Application,
        Enrollment,
        QualificationApplication,
        QualificationProject,
        QualificationStaff,
        StaffCertificate,
        TechnicalStaff,
    )

    (enterprise_id,) = add_enterprises(1, f"评估{size}人")
    insert_rows(
        TechnicalStaff.__table__,
        [
            dict(
                enterprise_id=enterprise_id,
                name=f"技术员{i}",
                gender=("male", "female")[i % 2],
                id_number=f"3401041990{i:08d}",
                mobile=f"139{i:08d}",
                education="本科",
                title=TITLES[i % len(TITLES)] if i % 50 else "高级工程师",
                position=POSITIONS[i % len(POSITIONS)],
                insurance_months=i % 37,
                archived=False,
            )
            for i in range(size)
        ],
    )
    staff = db.session.execute(
        select(TechnicalStaff.id, TechnicalStaff.id_number)
        .where(TechnicalStaff.enterprise_id == enterprise_id)
        .order_by(TechnicalStaff.id)
    ).all()
    today = dt.date.today()
    insert_rows(
        StaffCertificate.__table__,
        [
            dict(
                staff_id=staff_id,
                enterprise_id=enterprise_id,
                kind=("安全员证", "建造师注册证书", "安全员证")[i % 3],
                number=f"皖安{size}-{i:06d}",
                grade=("C", None, "B")[i % 3],
                issued_on=today - dt.timedelta(days=1000),
                expires_on=today - dt.timedelta(days=10) if i % 9 == 0 else today + dt.timedelta(days=500),
            )
            for i, (staff_id, _number) in enumerate(staff)
            if i % 3 == 0
        ],
    )
    insert_rows(
        Enrollment.__table__,
        [
            dict(
                batch_id=batch_id,
                staff_id=staff_id,
                enterprise_id=enterprise_id,
                id_number=f"{size:05d}{number[5:]}",  # one seat per person and batch
                status="passed" if i % 8 else "failed",
                result_on=today,
            )
            for i, (staff_id, number) in enumerate(staff)
            if i % 4 == 0
        ],
    )
    db.session.execute(
        insert(Application.__table__).values(
            kind="qualification_new", enterprise_id=enterprise_id, status="draft", version=1
        )
    )
    application_id = db.session.scalar(
        select(func.max(Application.id)).where(Application.enterprise_id == enterprise_id)
    )
    db.session.execute(
        insert(QualificationApplication.__table__).values(
            id=application_id, level_id=level_id, wizard_step=2, office_area=500, iso9001=True
        )
    )
    insert_rows(
        QualificationStaff.__table__,
        [
            dict(application_id=application_id, enterprise_id=enterprise_id, staff_id=staff_id, id_number=number)
            for staff_id, number in staff
        ],
    )
    insert_rows(
        QualificationProject.__table__,
        [
            dict(
                application_id=application_id,
                enterprise_id=enterprise_id,
                name=f"安防工程{i}",
                client="建设单位",
                contract_value=500,
                completed_on=today - dt.timedelta(days=30 * i),
            )
            for i in range(1, 7)
        ],
    )
    db.session.commit()
    return application_id


def add_queue(applications: int, enterprises: int, level_id: int) -> None:
    """`applications` 资质申请 over `enterprises` enterprises, in every state, submitted over two years."""
    from app.models import Application

    enterprise_ids = add_enterprises(enterprises, "排队")
    states = [status for status, share in STATUS_MIX for _ in range(share)]
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = []
    for i in range(applications):
        status = states[(i * 37) % len(states)]
        created = now - dt.timedelta(minutes=(i * 7919) % (730 * 24 * 60))
        rows.append(
            dict(
                kind="qualification_new",
                enterprise_id=enterprise_ids[i % len(enterprise_ids)],
                status=status,
                version=1,
                created_on=created,
                changed_on=created,
                submitted_on=None if status == "draft" else created + dt.timedelta(hours=2),
            )
        )
    insert_rows(Application.__table__, rows)
    db.session.execute(
        text(
            "INSERT INTO qualification_application (id, level_id, wizard_step, office_area, iso9001) "
            "SELECT a.id, :level, 3, 300, :iso FROM application a "
            "LEFT JOIN qualification_application q ON q.id = a.id "
            "WHERE a.kind = 'qualification_new' AND q.id IS NULL"
        ),
        {"level": level_id, "iso": True},
    )
    db.session.commit()


def add_reviewer(app) -> str:
    sm = app.appbuilder.sm
    user = sm.add_user(
        username="bench-reviewer",
        first_name="审核员",
        last_name="",
        email="bench-reviewer@association.example",
        role=sm.find_role("Reviewer"),
        password=PASSWORD,
    )
    assert user, "could not create the reviewer"
    db.session.commit()
    return user.username


def signed_in_client(app, username: str) -> FlaskClient:
    app.test_client_class = IsolatedClient
    client = app.test_client()
    page = client.get("/login/").get_data(as_text=True)
    token = CSRF_RE.search(page).group(1)
    response = client.post(
        "/login/",
        data={"user_kind": "association", "username": username, "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302, response.status_code
    return client


# --- 1. the rule evaluation --------------------------------------------------------------------------


RAW_PEOPLE = (
    "SELECT s.id, s.name, s.id_number, s.title, s.position, s.insurance_months FROM qualification_staff q "
    "JOIN technical_staff s ON s.id = q.staff_id WHERE q.application_id = :a ORDER BY s.id",
    "SELECT c.staff_id, c.kind, c.grade FROM qualification_staff q JOIN staff_certificate c ON c.staff_id = q.staff_id "
    "WHERE q.application_id = :a AND (c.expires_on IS NULL OR c.expires_on >= :on)",
    "SELECT DISTINCT e.staff_id FROM qualification_staff q JOIN enrollment e ON e.staff_id = q.staff_id "
    "WHERE q.application_id = :a AND e.status = 'passed'",
)


def evaluation(application_id: int) -> tuple[list[str], list]:
    """verdict() of a freshly loaded application, with every statement it ran."""
    from app.models import QualificationApplication
    from app.qualification import verdict

    db.session.remove()
    with count_queries() as statements:
        record = db.session.get(QualificationApplication, application_id)
        lines, _materials = verdict(record)
    return statements, lines


def parts(application_id: int) -> tuple[float, float]:
    """people() and evaluate() apart: the loading and the pure evaluation (best of REPEATS each)."""
    from app.models import QualificationApplication
    from app.qualification import evaluate, people, rules_of

    db.session.remove()
    record = db.session.get(QualificationApplication, application_id)
    staff_ids = [s.staff_id for s in record.staff]
    level, rules, enterprise, projects = record.level, rules_of(record.level_id), record.enterprise, record.projects
    persons = people(staff_ids)
    loading = best(lambda: (db.session.expire_all(), people(staff_ids)))
    pure = best(lambda: evaluate(level, rules, persons, enterprise, record, projects))
    db.session.remove()
    return loading, pure


def raw_people(application_id: int) -> None:
    with db.engine.connect() as connection:
        for statement in RAW_PEOPLE:
            connection.execute(text(statement), {"a": application_id, "on": dt.date.today()}).all()


def bench_rules(sizes: list[int], verbose: bool) -> None:
    from app.models import TrainingBatch

    level = level_with_every_kind_of_line()
    today = dt.date.today()
    db.session.execute(
        insert(TrainingBatch.__table__).values(
            name="基准培训", notice="", starts_on=today, ends_on=today, place="合肥", capacity=100_000, fee=0,
            signup_opens_on=today, signup_closes_on=today, status="finished",
        )
    )  # fmt: skip
    batch_id = db.session.scalar(select(func.max(TrainingBatch.id)))
    applications = {size: add_staffed_application(size, level.id, batch_id) for size in sizes}
    print(f"1. Rule evaluation of a 一级 application (verdict() = people() + evaluate()), best of {REPEATS}")
    print(
        f"{'staff':>7} {'queries':>8} {'of which certificates':>22} {'lines met':>10} {'verdict':>10}"
        f" {'people()':>9} {'evaluate()':>11} {'raw SQL':>9} {'verdict/raw':>12}"
    )
    for size, application_id in applications.items():
        statements, lines = evaluation(application_id)
        certificate_queries = sum("FROM staff_certificate" in s for s in statements)
        elapsed = best(lambda application_id=application_id: evaluation(application_id))
        loading, pure = parts(application_id)
        raw = best(lambda application_id=application_id: raw_people(application_id))
        met = f"{sum(line.met for line in lines)}/{len(lines)}"
        print(
            f"{size:>7} {len(statements):>8} {certificate_queries:>22} {met:>10} {ms(elapsed):>10}"
            f" {ms(loading):>9} {ms(pure):>11} {ms(raw):>9} {elapsed / raw:>11.1f}x"
        )
        if verbose and size == max(sizes):
            for statement in statements:
                print("         ", " ".join(statement.split())[:150])
    db.session.remove()


# --- 2. the review queue ----------------------------------------------------------------------------


def raw_page(statuses: list[str], size: int, offset: int, needle: str | None, part: str) -> None:
    """The page's SQL by hand: its count (`part` "count") or its rows ("rows")."""
    where = "a.kind = 'qualification_new' AND a.status IN ({})".format(", ".join(f"'{s}'" for s in statuses))
    if needle:
        where += " AND (e.name LIKE :needle OR e.credit_code LIKE :needle)"
    joins = (
        "FROM application a JOIN qualification_application q ON q.id = a.id JOIN enterprise e ON e.id = a.enterprise_id"
    )
    params = {"needle": f"%{needle}%", "size": size, "offset": offset}
    with db.engine.connect() as connection:
        if part == "count":
            connection.execute(text(f"SELECT count(*) {joins} WHERE {where}"), params).scalar()
        else:
            connection.execute(
                text(
                    f"SELECT a.*, q.*, e.id, e.name, e.credit_code, e.province, e.city {joins} WHERE {where} "
                    "ORDER BY coalesce(a.submitted_on, a.created_on), a.id LIMIT :size OFFSET :offset"
                ),
                params,
            ).all()


def bench_queue(app, applications: int, enterprises: int, verbose: bool) -> None:
    from app.models import Application, Enterprise, QualificationLevel
    from app.views import review
    from app.workflows import REGISTRY

    workflow = REGISTRY["qualification_new"]
    level_id = db.session.scalar(select(QualificationLevel.id).where(QualificationLevel.code == "L3"))
    start = time.perf_counter()
    add_queue(applications, enterprises, level_id)
    built = time.perf_counter() - start
    open_rows = db.session.scalar(
        select(func.count()).where(Application.kind == workflow.kind, Application.status.in_(workflow.open_states))
    )
    client = signed_in_client(app, add_reviewer(app))
    db.session.remove()
    print(
        f"2. 资质申请 review queue: {applications:,} applications over {enterprises:,} enterprises"
        f" ({open_rows:,} open; built in {built:.1f}s), best of {REPEATS}"
    )
    print(
        f"{'page':<28} {'size':>5} {'rows':>5} {'queries':>8} {'page time':>10} {'raw count':>10} {'raw rows':>9}"
        f" {'page/raw':>9}"
    )
    url = f"/backoffice/review/{workflow.kind}/"
    middle = max((open_rows - 1) // 50 // 2, 1)
    # an enterprise with open applications, searched by the end of its name as a reviewer would
    needle = db.session.scalar(
        select(Enterprise.name)
        .join(Application, Application.enterprise_id == Enterprise.id)
        .where(Application.status == "submitted", Enterprise.name.startswith("排队"))
        .order_by(Application.id.desc())
        .limit(1)
    )[-5:]
    cases = [
        ("first page (open)", 10, "", 0, None),
        ("first page (open)", 50, "", 0, None),
        ("first page (open)", 200, "", 0, None),
        (f"page {middle} (open)", 50, f"?page={middle}", (middle - 1) * 50, None),
        ("one enterprise's name", 50, f"?enterprise={needle}", 0, needle),
    ]
    states = workflow.open_states
    original = review.PAGE_SIZE
    try:
        for label, size, query, offset, needle in cases:
            review.PAGE_SIZE = size
            client.get(url + query)  # warm-up: caches, compiled statements
            with count_queries() as statements:
                response = client.get(url + query)
            assert response.status_code == 200, response.status_code
            rows = response.get_data(as_text=True).count('name="ids"')
            elapsed = best(lambda query=query: client.get(url + query))
            raw_count, raw_rows = (
                best(
                    lambda part=part, size=size, offset=offset, needle=needle: raw_page(
                        states, size, offset, needle, part
                    )
                )
                for part in ("count", "rows")
            )
            print(
                f"{label:<28} {size:>5} {rows:>5} {len(statements):>8} {ms(elapsed):>10} {ms(raw_count):>10}"
                f" {ms(raw_rows):>9} {elapsed / (raw_count + raw_rows):>8.1f}x"
            )
            if verbose and size == 50 and not query:
                for statement in statements:
                    print("         ", " ".join(statement.split())[:150])
    finally:
        review.PAGE_SIZE = original


# --- databases ---------------------------------------------------------------------------------------


@contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """A database of our own on that server, dropped afterwards."""
    name = f"bench_qualification_{os.getpid()}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run(url: str, workdir: Path, args: argparse.Namespace) -> None:
    from flask_migrate import upgrade

    from app.roles import sync_roles
    from app.settings import seed_defaults

    app = create_app(
        "config.Config",
        SQLALCHEMY_DATABASE_URI=url,
        SECRET_KEY="bench",
        TESTING=True,
        INSTANCE_PATH=str(workdir),
        UPLOAD_ROOT=str(workdir / "uploads"),
        RATELIMIT_STORAGE_URI="memory://",
    )
    logging.getLogger("flask_appbuilder").setLevel(logging.ERROR)  # the sign-in's redirect warning
    with app.app_context():
        upgrade(directory=MIGRATIONS_DIR)
        print(f"== {db.engine.dialect.name} {'.'.join(map(str, db.engine.dialect.server_version_info))}")
        sync_roles(app.appbuilder)
        seed_defaults()
        db.session.commit()
        bench_rules(args.staff, args.verbose)
        bench_queue(app, args.applications, args.enterprises, args.verbose)
        db.session.remove()
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", metavar="URL", help="also run on a throw-away database on this server")
    parser.add_argument("--staff", type=int, nargs="+", default=[50, 500, 5_000])
    parser.add_argument("--applications", type=int, default=100_000)
    parser.add_argument("--enterprises", type=int, default=20_000)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="bench-qualification-"))
    run(f"sqlite:///{workdir / 'bench.db'}", workdir, args)
    if args.postgres:
        with postgres_database(args.postgres) as url:
            run(url, workdir, args)
    print(f"whole run: {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()

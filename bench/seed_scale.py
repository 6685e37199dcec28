"""Builds the #10 scale data set on the database DATABASE_URL names (a SQLite file or PostgreSQL).

20,000 enterprises, 100,000 applications of every existing type with their status-log rows (about
3.6 per application), 200,000 technical staff (5,000 of them in one enterprise, the one the bench
signs in as), 100,000 audit rows, certificates, memberships, training batches with sign-ups, and
in-app messages, so that every list has rows. Rows are written with Core multi-row inserts in
chunks, never ORM objects; the random seed is fixed, so two runs build the same data.

The database must be empty: the migrations run first (`flask db upgrade`), then the roles and the
default configuration, then the rows. The bench's users (password `Bench1234pass`):

    bench-admin (Admin), bench-reviewer (Reviewer), bench-assoc (AssociationAdmin),
    13800000001 (Enterprise: the enterprise with 5,000 staff),
    13800000002 (OutOfProvinceEnterprise, with filings)

    DATABASE_URL=sqlite:////tmp/scale.db .venv/bin/python bench/seed_scale.py
    createdb -h 127.0.0.1 -U postgres scale
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/scale .venv/bin/python bench/seed_scale.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from flask import current_app
from flask_appbuilder import Model
from sqlalchemy import Table, func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import MIGRATIONS_DIR, create_app, db  # noqa: E402

SEED = 20261129
CHUNK = 10_000
PASSWORD = "Bench1234pass"
OWNER_PHONE = "13800000001"
OOP_OWNER_PHONE = "13800000002"
BIG_ENTERPRISE_STAFF = 5_000
NOW = dt.datetime(2026, 11, 29, 8, 0, 0)

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜"
GIVEN = (
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "涛",
    "明",
    "超",
    "秀英",
    "华",
    "建国",
    "志强",
)
EDUCATIONS = ("本科", "大专", "硕士", "高中", "中专")
TITLES = ("工程师", "助理工程师", "高级工程师", "无")
POSITIONS = ("施工员", "设计员", "安全员", "质检员", "技术负责人", "资料员")
# (region code, province, city, district): most enterprises are in the home province (安徽省)
REGIONS = (
    ("340104", "安徽省", "合肥市", "蜀山区"),
    ("340102", "安徽省", "合肥市", "瑶海区"),
    ("340202", "安徽省", "芜湖市", "镜湖区"),
    ("341302", "安徽省", "宿州市", "埇桥区"),
    ("340304", "安徽省", "蚌埠市", "禹会区"),
    ("320102", "江苏省", "南京市", "玄武区"),
    ("330102", "浙江省", "杭州市", "上城区"),
)
REGION_WEIGHTS = (30, 20, 15, 10, 10, 8, 7)
# kind -> share of the applications
KINDS = (
    ("membership", 35),
    ("qualification_new", 15),
    ("qualification_annual", 10),
    ("qualification_upgrade", 4),
    ("qualification_downgrade", 2),
    ("qualification_renewal", 4),
    ("change", 20),
    ("replacement", 5),
    ("filing", 5),
)
SUBTABLES = {
    "membership": "membership_application",
    "change": "change_request",
    "replacement": "replacement_request",
    "filing": "filing_application",
}


def chunks(rows: Iterable[dict], size: int = CHUNK) -> Iterator[list[dict]]:
    batch: list[dict] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def insert(table_name: str, rows: Iterable[dict]) -> int:
    """Multi-row inserts of `rows` in chunks, in one transaction per chunk; the number written."""
    table: Table = Model.metadata.tables[table_name]
    written = 0
    for batch in chunks(rows):
        with db.engine.begin() as connection:
            connection.execute(table.insert(), batch)
        written += len(batch)
    return written


def credit_code(seq: int) -> str:
    from stdnum.cn import uscc

    body = f"913401{seq:011d}"
    return body + uscc.calc_check_digit(body)


def id_number(rng: random.Random, seq: int) -> str:
    from stdnum.cn import ric

    birth = dt.date(1960, 1, 1) + dt.timedelta(days=rng.randrange(40 * 365))
    body = f"340104{birth:%Y%m%d}{seq % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([value for value, _weight in weighted], [weight for _value, weight in weighted])[0]


def make_users(app) -> dict[str, int]:
    """The bench's users (through FAB, for the password hashes), the two portal ones with their enterprises."""
    from app.models import Enterprise

    sm = app.appbuilder.sm
    ids: dict[str, int] = {}
    for username, role in (
        ("bench-admin", "Admin"),
        ("bench-reviewer", "Reviewer"),
        ("bench-assoc", "AssociationAdmin"),
    ):
        user = sm.add_user(username, username, "", f"{username}@association.example", sm.find_role(role), PASSWORD)
        ids[username] = user.id
    for seq, (phone, role, region) in enumerate(
        ((OWNER_PHONE, "Enterprise", REGIONS[0]), (OOP_OWNER_PHONE, "OutOfProvinceEnterprise", REGIONS[5])), start=1
    ):
        code, province, city, district = region
        enterprise = Enterprise(
            id=seq,
            name=f"合肥规模测试安防工程有限公司{seq}",
            credit_code=credit_code(seq),
            region_code=code,
            province=province,
            city=city,
            district=district,
            contact_person="张经理",
            mobile=phone,
        )
        db.session.add(enterprise)
        db.session.flush()
        user = sm.add_user(phone, phone, "", None, sm.find_role(role), PASSWORD)
        user.phone = phone
        user.enterprise_id = enterprise.id
        ids[phone] = user.id
    db.session.commit()
    return ids


def seed(enterprises: int, applications: int, staff: int, audits: int) -> None:
    from app.models import MemberTier, QualificationLevel
    from app.workflows import REGISTRY

    rng = random.Random(SEED)
    started = time.perf_counter()
    app = current_app
    users = make_users(app)
    reviewer_id = users["bench-reviewer"]
    tier_ids = list(db.session.scalars(select(MemberTier.id)))
    level_ids = list(db.session.scalars(select(QualificationLevel.id)))

    def say(what: str, n: int) -> None:
        print(f"  {what:<28} {n:>9,}  ({time.perf_counter() - started:.0f}s)", flush=True)

    # Enterprises (ids 1 and 2 are the bench's own, made above).
    def enterprise_rows() -> Iterator[dict]:
        for eid in range(3, enterprises + 1):
            code, province, city, district = rng.choices(REGIONS, REGION_WEIGHTS)[0]
            yield {
                "id": eid,
                "name": f"{city}{rng.choice(('安泰', '华盾', '中科', '天网', '金盾', '恒安', '卫士'))}安防"
                f"{rng.choice(('工程', '科技', '技术', '系统'))}有限公司{eid}",
                "credit_code": credit_code(eid),
                "region_code": code,
                "province": province,
                "city": city,
                "district": district,
                "contact_person": person_name(rng),
                "mobile": f"139{eid:08d}",
                "created_on": NOW - dt.timedelta(days=rng.randrange(2000)),
                "changed_on": NOW,
            }

    say("enterprises", 2 + insert("enterprise", enterprise_rows()))

    # A stored file for the filings' home certificates (one is enough: the lists do not open it).
    with db.engine.begin() as connection:
        connection.execute(
            Model.metadata.tables["stored_file"].insert(),
            {
                "id": 1,
                "enterprise_id": 2,
                "purpose": "filing_home_certificate",
                "sha256": "0" * 64,
                "size": 1,
                "content_type": "image/png",
                "original_name": "证书.png",
                "storage_key": "0" * 64,
                "created_on": NOW,
            },
        )

    # Certificates: a qualification certificate for half the enterprises, a membership one for a quarter.
    certificate_rows: list[dict] = []
    membership_rows: list[dict] = []
    year_seq: dict[tuple[str, int], int] = {}
    for eid in range(1, enterprises + 1):
        kinds = (["qualification"] if eid % 2 else []) + (["membership"] if eid % 4 == 1 else [])
        for kind in kinds:
            issued = (NOW - dt.timedelta(days=rng.randrange(1500))).date()
            key = (kind, issued.year)
            year_seq[key] = year_seq.get(key, 0) + 1
            cid = len(certificate_rows) + 1
            number = (
                f"皖安协资[{issued.year}]第{year_seq[key]:05d}号"
                if kind == "qualification"
                else f"皖安协会[{issued.year}]第{year_seq[key]:05d}号"
            )
            valid_until = issued + dt.timedelta(days=365 * (3 if kind == "qualification" else 1))
            certificate_rows.append(
                {
                    "id": cid,
                    "kind": kind,
                    "number": number,
                    "enterprise_id": eid,
                    "holder_name": f"企业{eid}",
                    "level": rng.choice(("一级", "二级", "三级")) if kind == "qualification" else None,
                    "issued_on": issued,
                    "valid_from": issued,
                    "valid_until": valid_until,
                    "status": "valid" if valid_until >= NOW.date() else "expired",
                    "created_on": NOW,
                    "changed_on": NOW,
                }
            )
            if kind == "membership":
                membership_rows.append(
                    {
                        "enterprise_id": eid,
                        "certificate_id": cid,
                        "tier_id": rng.choice(tier_ids),
                        "fee": 2000,
                        "valid_from": issued,
                        "valid_until": valid_until,
                        "status": "valid" if valid_until >= NOW.date() else "expired",
                        "created_on": NOW,
                        "changed_on": NOW,
                    }
                )
    say("certificates", insert("certificate", certificate_rows))
    say("memberships", insert("membership", membership_rows))
    certificates_of = {}
    for row in certificate_rows:
        certificates_of.setdefault(row["enterprise_id"], row["id"])

    # Applications: the base row, the type's own row, and the status log of how it got there.
    open_states = {kind: [s for s in REGISTRY[kind].open_states if s != REGISTRY[kind].initial] for kind in REGISTRY}
    base_rows: list[dict] = []
    own_rows: dict[str, list[dict]] = {table: [] for table in (*SUBTABLES.values(), "qualification_application")}
    log_rows: list[dict] = []
    for aid in range(1, applications + 1):
        kind = pick(rng, KINDS)
        workflow = REGISTRY[kind]
        roll = rng.random()
        if roll < 0.45:
            status = rng.choice(open_states[kind])
        elif roll < 0.5:
            status = workflow.initial
        else:
            status = rng.choice([s for s in workflow.states if s not in workflow.open_states] or [workflow.initial])
        if aid <= 40:  # the owners' own applications: their portal lists have rows
            eid = 1 if kind != "filing" else 2
        else:
            eid = rng.randrange(3, enterprises + 1) if kind != "filing" else 2 + rng.randrange(1, 200) * 100
            eid = min(eid, enterprises)
        created = NOW - dt.timedelta(minutes=rng.randrange(3 * 365 * 24 * 60))
        submitted = None if status == workflow.initial else created + dt.timedelta(hours=rng.randrange(1, 72))
        base_rows.append(
            {
                "id": aid,
                "kind": kind,
                "enterprise_id": eid,
                "status": status,
                "version": 1,
                "submitted_on": submitted,
                "created_on": created,
                "changed_on": submitted or created,
            }
        )
        if kind == "membership":
            own_rows["membership_application"].append(
                {
                    "id": aid,
                    "tier_id": rng.choice(tier_ids),
                    "legal_person": person_name(rng),
                    "registered_capital": 500,
                    "employees": 40,
                    "technical_staff": 10,
                    "main_business": "安防工程设计与施工",
                    "contact_person": person_name(rng),
                    "contact_phone": f"139{aid:08d}",
                }
            )
        elif kind.startswith("qualification_"):
            own_rows["qualification_application"].append(
                {"id": aid, "level_id": rng.choice(level_ids), "certificate_id": certificates_of.get(eid)}
            )
        elif kind == "change":
            own_rows["change_request"].append({"id": aid, "name": f"变更后名称{aid}", "explanation": "名称变更"})
        elif kind == "replacement":
            own_rows["replacement_request"].append(
                {
                    "id": aid,
                    "certificate_id": certificates_of.get(eid) or 1,
                    "copy": "original",
                    "reason": "lost",
                    "statement": "证书遗失",
                }
            )
        else:
            own_rows["filing_application"].append(
                {
                    "id": aid,
                    "home_qualification": "安防工程企业设计施工维护能力一级",
                    "home_certificate_file_id": 1,
                    "person_in_charge": person_name(rng),
                    "person_in_charge_phone": f"137{aid:08d}",
                }
            )
        at = created
        previous = None
        steps = 1 if status == workflow.initial else rng.randrange(2, 6)
        for step in range(steps):
            to_status = status if step == steps - 1 else rng.choice(workflow.states)
            log_rows.append(
                {
                    "application_id": aid,
                    "transition": "create" if step == 0 else "step",
                    "from_status": previous,
                    "to_status": to_status,
                    "actor_id": None if step == 0 else reviewer_id,
                    "actor_name": "企业" if step == 0 else "审核员",
                    "at": at,
                }
            )
            previous = to_status
            at += dt.timedelta(hours=rng.randrange(1, 48))
    say("applications", insert("application", base_rows))
    for table, rows in own_rows.items():
        say(f"  {table}", insert(table, rows))
    say("status-log rows", insert("status_log", log_rows))
    del base_rows, own_rows, log_rows

    # Staff: 5,000 in the owner's enterprise, the rest spread over the others; a few people are
    # registered by two enterprises (the back office's 也在他处任职).
    staff_numbers: list[tuple[int, str]] = []

    def staff_rows() -> Iterator[dict]:
        for sid in range(1, staff + 1):
            eid = 1 if sid <= BIG_ENTERPRISE_STAFF else rng.randrange(3, enterprises + 1)
            if sid > BIG_ENTERPRISE_STAFF and staff_numbers and rng.random() < 0.01:
                number = rng.choice(staff_numbers)[1]
            else:
                number = id_number(rng, sid)
            staff_numbers.append((eid, number)) if len(staff_numbers) < 50_000 else None
            yield {
                "id": sid,
                "enterprise_id": eid,
                "name": person_name(rng),
                "gender": "male" if int(number[16]) % 2 else "female",
                "id_number": number,
                "mobile": f"136{sid:08d}",
                "education": rng.choice(EDUCATIONS),
                "title": rng.choice(TITLES),
                "position": rng.choice(POSITIONS),
                "insurance_months": rng.randrange(1, 120),
                "archived": rng.random() < 0.05,
                "created_on": NOW - dt.timedelta(days=rng.randrange(1500)),
                "changed_on": NOW,
            }

    seen: set[tuple[int, str]] = set()

    def unique_staff() -> Iterator[dict]:
        for row in staff_rows():
            key = (row["enterprise_id"], row["id_number"])
            if key not in seen:
                seen.add(key)
                yield row

    say("technical staff", insert("technical_staff", unique_staff()))

    # Training: two open batches, four finished ones; sign-ups, a thousand from the owner's staff.
    today = NOW.date()
    batch_rows = []
    for bid in range(1, 7):
        opened = bid <= 2
        starts = today + dt.timedelta(days=30 * bid) if opened else today - dt.timedelta(days=90 * bid)
        batch_rows.append(
            {
                "id": bid,
                "name": f"2026年第{bid}期安防技术培训",
                "notice": "报名须知：请如实填写。",
                "starts_on": starts,
                "ends_on": starts + dt.timedelta(days=2),
                "place": "合肥市",
                "capacity": 5_000,
                "fee": 0,
                "signup_opens_on": starts - dt.timedelta(days=60),
                "signup_closes_on": starts - dt.timedelta(days=5),
                "status": "open" if opened else "finished",
                "created_on": NOW,
                "changed_on": NOW,
            }
        )
    insert("training_batch", batch_rows)
    staff_table = Model.metadata.tables["technical_staff"]
    with db.engine.connect() as connection:
        picked = connection.execute(
            select(staff_table.c.id, staff_table.c.enterprise_id, staff_table.c.id_number)
            .where(staff_table.c.id % 20 == 0)
            .order_by(staff_table.c.id)
        ).all()
    enrollment_rows = []
    used: set[tuple[int, str]] = set()
    for index, (sid, eid, number) in enumerate(picked):
        bid = 1 + index % 6
        if (bid, number) in used:
            continue
        used.add((bid, number))
        enrollment_rows.append(
            {
                "batch_id": bid,
                "staff_id": sid,
                "enterprise_id": eid,
                "id_number": number,
                "status": "signed_up" if bid <= 2 else rng.choice(("passed", "failed", "confirmed")),
                "created_on": NOW,
                "changed_on": NOW,
            }
        )
    say("training sign-ups", insert("enrollment", enrollment_rows))

    # In-app messages: the owner's inbox and everybody else's.
    def notification_rows() -> Iterator[dict]:
        for nid in range(1, 20_001):
            owner = nid <= 300
            yield {
                "enterprise_id": 1 if owner else rng.randrange(3, enterprises + 1),
                "user_id": users[OWNER_PHONE] if owner else None,
                "channel": "inapp" if owner else rng.choice(("inapp", "sms")),
                "subject": "申请状态变更",
                "body": "您的申请已被接收。",
                "result": "sent",
                "created_on": NOW - dt.timedelta(minutes=nid),
                "read_on": None if nid % 3 else NOW,
            }

    say("messages", insert("notification", notification_rows()))

    def audit_rows() -> Iterator[dict]:
        for _ in range(audits):
            yield {
                "at": NOW - dt.timedelta(seconds=rng.randrange(3 * 365 * 24 * 3600)),
                "actor_id": reviewer_id,
                "actor_name": "bench-reviewer",
                "action": rng.choice(("receive", "approve", "return", "edit", "certificate")),
                "object_type": rng.choice(("MembershipApplication", "TechnicalStaff", "Setting", "Certificate")),
                "object_id": str(rng.randrange(1, applications)),
                "ip": "10.0.0.1",
            }

    say("audit rows", insert("audit_log", audit_rows()))
    reset_sequences()
    analyse()
    say("done", 0)


def reset_sequences() -> None:
    """PostgreSQL: the id sequences continue after the ids written explicitly."""
    if db.engine.dialect.name != "postgresql":
        return
    with db.engine.begin() as connection:
        for table in Model.metadata.sorted_tables:
            if "id" in table.c and table.c.id.primary_key:
                maximum = connection.execute(select(func.max(table.c.id))).scalar()
                if maximum:
                    connection.execute(
                        text("SELECT setval(pg_get_serial_sequence(:t, 'id'), :m)"), {"t": table.name, "m": maximum}
                    )


def analyse() -> None:
    """Fresh statistics, as a database that has lived a while has them; on PostgreSQL also the visibility
    map that autovacuum keeps (without it no index-only scan is possible, which no live database shows)."""
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
        return
    with db.engine.begin() as connection:
        connection.execute(text("ANALYZE"))


def build_app(url: str):
    workdir = Path(tempfile.mkdtemp(prefix="seed-scale-"))
    app = create_app(
        "config.Config",
        SQLALCHEMY_DATABASE_URI=url,
        SECRET_KEY="bench",
        TESTING=True,
        INSTANCE_PATH=str(workdir),
        UPLOAD_ROOT=str(workdir / "uploads"),
        RATELIMIT_STORAGE_URI="memory://",
    )
    logging.getLogger("flask_appbuilder").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--enterprises", type=int, default=20_000)
    parser.add_argument("--applications", type=int, default=100_000)
    parser.add_argument("--staff", type=int, default=200_000)
    parser.add_argument("--audit", type=int, default=100_000)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL")
    if not url:
        parser.error("set DATABASE_URL (sqlite:////tmp/scale.db or postgresql://…/scale)")
    from flask_migrate import upgrade

    from app.roles import sync_roles
    from app.settings import seed_defaults

    app = build_app(url)
    with app.app_context():
        from app.models import Enterprise

        upgrade(directory=MIGRATIONS_DIR)
        if db.session.scalar(select(func.count()).select_from(Enterprise)):
            sys.exit("the database already holds enterprises: seed an empty one")
        sync_roles(app.appbuilder)
        seed_defaults()
        db.session.commit()
        print(f"seeding {db.engine.dialect.name}: {url}")
        seed(args.enterprises, args.applications, args.staff, args.audit)


if __name__ == "__main__":
    main()

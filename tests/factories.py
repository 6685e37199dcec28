"""Small factory functions for tests: enterprises, users, and valid identity numbers."""

from __future__ import annotations

import itertools

from flask import current_app
from stdnum.cn import ric, uscc

from app import db
from app.models import Enterprise, PlatformUser

PASSWORD = "Test1234pass"
_counter = itertools.count(1)


def credit_code(seq: int | None = None, region: str = "340104") -> str:
    """A valid 统一社会信用代码 (checksum included) built from a sequence number."""
    seq = next(_counter) if seq is None else seq
    body = f"91{region}MA{seq:07d}"
    return body + uscc.calc_check_digit(body)


def id_number(region: str = "340104", birth: str = "19900101", seq: int = 123) -> str:
    body = f"{region}{birth}{seq:03d}"
    return body + ric.calc_check_digit(body + "0")


def make_enterprise(name: str | None = None, region_code: str = "340104", **fields) -> Enterprise:
    from app import regions

    seq = next(_counter)
    province, city, district = regions.resolve(region_code)
    enterprise = Enterprise(
        name=name or f"测试安防工程有限公司{seq}",
        credit_code=fields.pop("credit_code", None) or credit_code(seq),
        region_code=region_code,
        province=province,
        city=city,
        district=district,
        contact_person=fields.pop("contact_person", "张三"),
        mobile=fields.pop("mobile", f"139{seq:08d}"),
        **fields,
    )
    db.session.add(enterprise)
    db.session.commit()
    return enterprise


def make_user(
    role: str,
    username: str | None = None,
    enterprise: Enterprise | None = None,
    password: str = PASSWORD,
    phone: str | None = None,
) -> PlatformUser:
    sm = current_app.appbuilder.sm
    seq = next(_counter)
    username = username or (phone or f"user{seq}")
    user = sm.add_user(
        username=username,
        first_name=username,
        last_name="",
        email=None if enterprise else f"{username}@association.example",
        role=sm.find_role(role),
        password=password,
    )
    assert user, f"could not create user {username}"
    user.phone = phone
    user.enterprise_id = enterprise.id if enterprise else None
    db.session.commit()
    return user


def make_enterprise_user(role: str = "Enterprise", region_code: str = "340104", **fields) -> PlatformUser:
    enterprise = make_enterprise(region_code=region_code, **fields)
    phone = f"138{next(_counter):08d}"
    return make_user(role, username=phone, phone=phone, enterprise=enterprise)


def make_membership_application(
    enterprise: Enterprise, status: str = "submitted", tier_name: str = "会员单位", payment: dict | None = None, **fields
):
    """A membership application put straight into `status` (tests of the engine set states directly).

    `payment` fills the shared payment part (delivery_method, file_id, phone, fee …).
    """
    import datetime as dt

    from sqlalchemy import select

    from app.models import MembershipApplication, MemberTier, Payment

    tier = db.session.scalar(select(MemberTier).where(MemberTier.name == tier_name))
    values = dict(
        legal_person="法人甲",
        registered_capital=600,
        employees=50,
        technical_staff=12,
        main_business="安防工程设计与施工",
        contact_person="联系人甲",
        contact_phone="13800000000",
        notice_read_on=dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=5),
    )
    values.update(fields)
    record = MembershipApplication(enterprise_id=enterprise.id, status=status, version=1, tier_id=tier.id, **values)
    if payment is not None:
        record.payment = Payment(enterprise_id=enterprise.id, **payment)
    db.session.add(record)
    db.session.commit()
    return record


def stored_image(owner: PlatformUser, name: str = "pay.png", color: str = "red"):
    """A stored PNG upload of the owner's enterprise."""
    import io

    from PIL import Image
    from werkzeug.datastructures import FileStorage

    from app.uploads import save_upload

    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), color).save(buffer, "PNG")
    stored = save_upload(
        FileStorage(io.BytesIO(buffer.getvalue()), filename=name),
        purpose="test",
        enterprise_id=owner.enterprise_id,
        uploaded_by_id=owner.id,
    )
    db.session.commit()
    return stored


def ready_membership(owner: PlatformUser, state: str):
    """A membership application in `state` with everything every guard asks for."""
    stored = stored_image(owner)
    return make_membership_application(
        owner.enterprise,
        status=state,
        payment={"delivery_method": "pickup", "file_id": stored.id, "phone": "13900000000"},
    )


# kind -> factory of an application in a given state that satisfies every guard of its workflow.
READY_APPLICATION = {"membership": ready_membership}


def person(seq: int, **overrides) -> dict:
    """One valid 报名表 row / staff form (gender follows the ID number's 17th digit)."""
    data = {
        "name": f"技术员{seq}",
        "gender": "男",
        "id_number": id_number(seq=100 + seq % 800, birth=f"19{70 + seq % 25}0101"),
        "mobile": f"139{seq:08d}",
        "education": "本科",
        "major": "电子信息",
        "title": "工程师",
        "position": "施工员",
        "insurance_months": 24,
    }
    data["gender"] = "男" if int(data["id_number"][16]) % 2 else "女"
    data.update(overrides)
    return data


def make_batch(**fields):
    """An open training batch whose sign-up window includes today."""
    import datetime as dt

    from app import clock
    from app.models import TrainingBatch

    today = clock.today()
    values = dict(
        name="2026年第一期安防技术培训",
        notice="报名须知：请如实填写。",
        starts_on=today + dt.timedelta(days=30),
        ends_on=today + dt.timedelta(days=32),
        place="合肥市",
        capacity=50,
        fee=800,
        signup_opens_on=today - dt.timedelta(days=1),
        signup_closes_on=today + dt.timedelta(days=20),
        status="open",
    )
    values.update(fields)
    batch = TrainingBatch(**values)
    db.session.add(batch)
    db.session.commit()
    return batch


def make_staff(enterprise: Enterprise, seq: int, **overrides):
    """A registered technical staff member of `enterprise` (not signed up for anything)."""
    from app.staff import check_staff, save_staff

    values, errors = check_staff(person(seq, **overrides))
    assert not errors, errors
    staff = save_staff(enterprise.id, values)
    db.session.commit()
    return staff


def workbook(rows: list[dict]) -> bytes:
    """A 报名表 workbook with the template's header and these rows (ID and phone cells as text)."""
    import io

    from openpyxl import Workbook

    from app.spreadsheets import headers

    book = Workbook()
    sheet = book.active
    sheet.title = "报名表"
    sheet.append(headers())
    keys = ["name", "gender", "id_number", "mobile", "education", "major", "title", "position", "insurance_months"]
    for row in rows:
        sheet.append([row.get(key) for key in keys])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# --- Qualification -----------------------------------------------------------------------------


def level(code: str):
    from sqlalchemy import select

    from app.models import QualificationLevel

    return db.session.scalar(select(QualificationLevel).where(QualificationLevel.code == code))


def make_certificate(enterprise: Enterprise, level_code: str = "L3", valid_from=None, years: int = 3, **fields):
    """A qualification certificate held by `enterprise` (numbered from the pattern)."""
    import datetime as dt

    from dateutil.relativedelta import relativedelta

    from app import certificates
    from app.qualification import today

    start = valid_from or today()
    certificate = certificates.issue(
        "qualification",
        enterprise_id=enterprise.id,
        holder_name=enterprise.name,
        valid_from=start,
        valid_until=start + relativedelta(years=years) - dt.timedelta(days=1),
        level=level_code,
        copies_original=1,
        copies_duplicate=1,
        **fields,
    )
    db.session.commit()
    return certificate


def team(enterprise: Enterprise, count: int) -> list:
    """The enterprise's first `count` staff, registered as needed: two 高级工程师 / 技术负责人, then
    工程师 / 施工员, all with 24 months of social insurance."""
    from sqlalchemy import select

    from app.models import TechnicalStaff

    existing = list(
        db.session.scalars(
            select(TechnicalStaff).where(TechnicalStaff.enterprise_id == enterprise.id).order_by(TechnicalStaff.id)
        )
    )
    for index in range(len(existing), count):
        senior = {"title": "高级工程师", "position": "技术负责人"} if index < 2 else {}
        existing.append(make_staff(enterprise, 500 + enterprise.id * 50 + index, **senior))
    return existing[:count]


def make_qualification_application(
    owner: PlatformUser,
    kind: str = "qualification_new",
    status: str = "draft",
    level_code: str = "L3",
    certificate=None,
    staff: int = 5,
    materials: bool = True,
    projects: int = 5,
    **fields,
):
    """A qualification application of `kind` put straight into `status`, with `staff` counted people,
    the level's required materials and conditions (tests of the engine set states directly)."""
    import datetime as dt

    from app.models import ApplicationFile, QualificationProject, QualificationStaff
    from app.qualification import materials_for, today
    from app.workflows import REGISTRY

    target = level(level_code)
    model = REGISTRY[kind].model
    record = model(
        enterprise_id=owner.enterprise_id,
        status=status,
        version=1,
        created_by_id=owner.id,
        level_id=target.id,
        certificate_id=certificate.id if certificate else None,
        office_area=fields.pop("office_area", 500),
        iso9001=fields.pop("iso9001", True),
        **fields,
    )
    db.session.add(record)
    db.session.flush()
    people = team(owner.enterprise, staff)
    for person in people:
        record.staff.append(
            QualificationStaff(enterprise_id=owner.enterprise_id, staff_id=person.id, id_number=person.id_number)
        )
    for index in range(projects):
        record.projects.append(
            QualificationProject(
                enterprise_id=owner.enterprise_id,
                name=f"安防工程{index + 1}",
                client="建设单位",
                contract_value=400,
                completed_on=today() - dt.timedelta(days=100 + index),
            )
        )
    if materials:
        stored = stored_image(owner, name="材料.png")
        for material in materials_for(target.id, kind):
            record.files.append(
                ApplicationFile(
                    enterprise_id=owner.enterprise_id, requirement=material.code, label=material.name, file_id=stored.id
                )
            )
    db.session.commit()
    return record


def _ready_qualification(
    kind: str, level_code: str, held_code: str | None, valid_from_years_ago: float = 0, staff: int = 5
):
    def ready(owner: PlatformUser, state: str):
        import datetime as dt

        from app.qualification import today

        owner.enterprise.registered_capital = 1200
        certificate = None
        if held_code:
            days = int(valid_from_years_ago * 365.25)
            certificate = make_certificate(owner.enterprise, held_code, valid_from=today() - dt.timedelta(days=days))
        review_year = 1 if kind == "qualification_annual" else None
        return make_qualification_application(
            owner, kind, state, level_code, certificate=certificate, review_year=review_year, staff=staff
        )

    return ready


READY_APPLICATION.update(
    {
        "qualification_new": _ready_qualification("qualification_new", "L3", None),
        # the first anniversary is inside the annual-review window (30 days before it)
        "qualification_annual": _ready_qualification("qualification_annual", "L3", "L3", valid_from_years_ago=0.97),
        "qualification_upgrade": _ready_qualification("qualification_upgrade", "L2", "L3", staff=10),
        "qualification_downgrade": _ready_qualification("qualification_downgrade", "L3", "L2"),
        # 60 days before expiry: inside the 90-day renewal window
        "qualification_renewal": _ready_qualification("qualification_renewal", "L3", "L3", valid_from_years_ago=2.84),
    }
)


# --- 信息变更 and 证书补办 ---------------------------------------------------------------------------


def make_change_request(owner: PlatformUser, status: str = "submitted", proofs: bool = True, **fields):
    """A change request put straight into `status`: a new name (and whatever `fields` change),
    with every proof the setting names attached."""
    from app.models import PROFILE_FIELDS, ApplicationFile, ChangeRequest
    from app.workflows.change import proof_requirements

    enterprise = owner.enterprise
    values = {f: getattr(enterprise, f) for f in PROFILE_FIELDS}
    values["name"] = "变更后安防科技有限公司" if enterprise.name != "变更后安防科技有限公司" else "再次变更安防有限公司"
    values["explanation"] = "更名"
    values.update(fields)
    record = ChangeRequest(enterprise_id=enterprise.id, status=status, version=1, created_by_id=owner.id, **values)
    if proofs:
        stored = stored_image(owner, name="变更证明.png")
        for name, _fields in proof_requirements():
            record.files.append(
                ApplicationFile(enterprise_id=enterprise.id, requirement=name, label=name, file_id=stored.id)
            )
    db.session.add(record)
    db.session.commit()
    return record


def make_replacement_request(
    owner: PlatformUser, status: str = "submitted", certificate=None, payment: dict | None = None, **fields
):
    """A 挂失申请 put straight into `status`, for a copy of `certificate` (a new qualification certificate by default)."""
    from app.models import ApplicationFile, Payment, ReplacementRequest

    certificate = certificate or make_certificate(owner.enterprise)
    values = dict(copy="original", reason="lost", statement="证书正本于搬迁中遗失，已登报声明作废。")
    values.update(fields)
    record = ReplacementRequest(
        enterprise_id=owner.enterprise_id,
        status=status,
        version=1,
        created_by_id=owner.id,
        certificate_id=certificate.id,
        **values,
    )
    stored = stored_image(owner, name="挂失声明.png")
    record.files.append(
        ApplicationFile(
            enterprise_id=owner.enterprise_id, requirement="replacement_proof", label="证明材料", file_id=stored.id
        )
    )
    if payment is not None:
        record.payment = Payment(enterprise_id=owner.enterprise_id, **payment)
    db.session.add(record)
    db.session.commit()
    return record


def ready_replacement(owner: PlatformUser, state: str):
    stored = stored_image(owner)
    return make_replacement_request(
        owner, state, payment={"fee": 0, "delivery_method": "pickup", "file_id": stored.id, "phone": "13900000000"}
    )


READY_APPLICATION.update(
    {
        "change": lambda owner, state: make_change_request(owner, state),
        "replacement": ready_replacement,
    }
)


# --- 外省企业备案 -------------------------------------------------------------------------------------


def make_out_of_province_user(**fields) -> PlatformUser:
    """An OutOfProvinceEnterprise account of an enterprise registered in 江苏省 (南京市玄武区)."""
    return make_enterprise_user("OutOfProvinceEnterprise", region_code="320102", **fields)


def make_filing_application(owner: PlatformUser, status: str = "submitted", projects: int = 2, **fields):
    """A filing application put straight into `status`, with its certificate scan and project rows."""
    import datetime as dt

    from app.models import FilingApplication, FilingProject

    stored = stored_image(owner, name="原籍资质证书.png")
    values = dict(
        home_qualification="江苏省安防工程企业设计施工维护能力一级",
        home_certificate_number="苏安协资[2025]第0001号",
        person_in_charge="王负责",
        person_in_charge_phone="13912345678",
    )
    values.update(fields)
    record = FilingApplication(
        enterprise_id=owner.enterprise_id,
        status=status,
        version=1,
        created_by_id=owner.id,
        home_certificate_file_id=stored.id,
        **values,
    )
    for index in range(projects):
        record.projects.append(
            FilingProject(
                enterprise_id=owner.enterprise_id,
                name=f"合肥安防工程{index + 1}",
                city="合肥市",
                contract_value=120,
                start_on=dt.date(2026, 3, 1),
                end_on=dt.date(2026, 12, 31),
            )
        )
    db.session.add(record)
    db.session.commit()
    return record


def ready_filing(owner: PlatformUser, state: str):
    """A filing application in `state` whose owner is registered outside the province (every guard passes)."""
    from app import regions

    enterprise = owner.enterprise
    if enterprise.region_code.startswith("34"):
        enterprise.region_code = "320102"
        enterprise.province, enterprise.city, enterprise.district = regions.resolve("320102")
        db.session.commit()
    return make_filing_application(owner, status=state)


READY_APPLICATION["filing"] = ready_filing


def make_staff_rows(enterprise: Enterprise, n: int, start: int = 1000) -> list[int]:
    """`n` staff of `enterprise` in one multi-row insert (lists at scale); their ids, oldest first."""
    import datetime as dt

    from sqlalchemy import select

    from app.models import TechnicalStaff

    now = dt.datetime(2026, 1, 1)
    seqs = range(start, start + n)
    numbers = {seq: id_number(birth=f"19{70 + (seq // 1000) % 25}0101", seq=seq % 1000) for seq in seqs}
    rows = [
        {
            "enterprise_id": enterprise.id,
            "name": f"批量技术员{seq}",
            "gender": "male" if int(numbers[seq][16]) % 2 else "female",
            "id_number": numbers[seq],
            "mobile": f"137{seq:08d}",
            "education": "本科",
            "title": "工程师",
            "position": "施工员",
            "insurance_months": 12,
            "archived": False,
            "created_on": now,
            "changed_on": now,
        }
        for seq in seqs
    ]
    db.session.execute(TechnicalStaff.__table__.insert(), rows)
    db.session.commit()
    return list(
        db.session.scalars(
            select(TechnicalStaff.id).where(TechnicalStaff.enterprise_id == enterprise.id).order_by(TechnicalStaff.id)
        )
    )

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

    from app.models import TrainingBatch

    today = dt.date.today()
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

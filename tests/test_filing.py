"""外省企业备案 (F14): the out-of-province portal, the 登记表, review, the filing certificate and renewal."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from PIL import Image
from sqlalchemy import func, select

from app import db
from app.models import Certificate, FilingApplication, FilingProject
from app.qualification import today
from app.workflows import apply
from conftest import CSRF_RE
from factories import (
    make_enterprise_user,
    make_filing_application,
    make_out_of_province_user,
    make_user,
    stored_image,
)


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 20), "blue").save(buffer, "PNG")
    return buffer.getvalue()


def token(client, url: str) -> str:
    return CSRF_RE.search(client.get(url).get_data(as_text=True)).group(1)


def registration_form(client, url: str = "/filing/apply", **overrides) -> dict:
    data = {
        "csrf_token": token(client, url),
        "home_qualification": "江苏省安防工程企业设计施工维护能力一级",
        "home_certificate_number": "苏安协资[2025]第0007号",
        "home_certificate": (io.BytesIO(png()), "原籍资质证书.png"),
        "person_in_charge": "王负责",
        "person_in_charge_phone": "13912345678",
        "projects-0-name": "合肥市政务中心安防工程",
        "projects-0-city": "合肥市",
        "projects-0-contract_value": "350.5",
        "projects-0-start_on": "2026-03-01",
        "projects-0-end_on": "2026-12-31",
        "projects-1-name": "芜湖港监控系统",
        "projects-1-city": "芜湖市",
        "projects-1-contract_value": "80",
        "projects-1-start_on": "2026-05-01",
        "projects-1-end_on": "",
        "projects-2-name": "",
        "projects-2-city": "",
        "projects-2-contract_value": "",
        "projects-2-start_on": "",
        "projects-2-end_on": "",
    }
    data.update(overrides)
    return data


@pytest.fixture
def oop(app):
    return make_out_of_province_user(name="江苏外省安防工程有限公司")


def test_out_of_province_portal_has_filing_not_membership_or_qualification(app, client, auth, oop):
    auth.login(oop.username)
    home = client.get("/portal/", follow_redirects=True).get_data(as_text=True)
    assert "/filing/" in home
    assert "/membership/" not in home and "/qualification/new/" not in home
    for url in ("/membership/", "/membership/apply", "/qualification/new/", "/qualification/certificates/"):
        response = client.get(url)
        assert response.status_code == 302 and response.headers["Location"].endswith("/filing/"), url
        page = client.get("/filing/").get_data(as_text=True)
        assert "在本省" in page  # the reason: membership is for enterprises registered in the province
    # and the server refuses a write too
    response = client.post("/membership/apply", data={"csrf_token": token(client, "/filing/")})
    assert response.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(FilingApplication)) == 0


def test_in_province_enterprise_has_no_filing(app, client, auth):
    user = make_enterprise_user()
    auth.login(user.username)
    assert "/filing/" not in client.get("/portal/", follow_redirects=True).get_data(as_text=True)
    assert client.get("/filing/").status_code in (302, 403)
    assert client.get("/membership/").status_code == 200


def test_file_review_approve_and_download(app, client, auth, oop):
    auth.login(oop.username)
    index = client.get("/filing/").get_data(as_text=True)
    assert "申请备案" in index
    form_page = client.get("/filing/apply").get_data(as_text=True)
    assert oop.enterprise.name in form_page and oop.enterprise.credit_code in form_page  # basics, read-only
    response = client.post("/filing/apply", data=registration_form(client), content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    record = db.session.scalar(select(FilingApplication))
    assert record.status == "submitted" and record.home_certificate_file.original_name == "原籍资质证书.png"
    assert [(p.name, p.city, float(p.contract_value)) for p in record.projects] == [
        ("合肥市政务中心安防工程", "合肥市", 350.5),
        ("芜湖港监控系统", "芜湖市", 80.0),
    ]
    reviewer = make_user("Reviewer")
    apply(record, "receive", reviewer)
    apply(record, "approve", reviewer)
    certificate = db.session.scalar(select(Certificate).where(Certificate.kind == "filing"))
    year = today().year
    assert certificate.number == f"皖安协备[{year}]第0001号"
    assert certificate.valid_from == today()
    assert certificate.valid_until == dt.date(year + 1, today().month, today().day) - dt.timedelta(days=1)
    detail = client.get(f"/filing/{record.id}").get_data(as_text=True)
    assert certificate.number in detail and "备案证明下载" in detail
    response = client.get(f"/certificates/{certificate.id}/pdf")
    assert response.status_code == 302 and "/files/" in response.headers["Location"]
    pdf = client.get(response.headers["Location"])
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")


def test_form_errors_are_per_field_and_nothing_is_stored(app, client, auth, oop):
    auth.login(oop.username)
    data = registration_form(client, **{"projects-1-city": "", "home_certificate": (io.BytesIO(b""), "")})
    page = client.post("/filing/apply", data=data, content_type="multipart/form-data").get_data(as_text=True)
    assert "请上传原籍资质证书" in page and "请完整填写项目" in page
    data = registration_form(
        client,
        **{f"projects-{i}-{f}": "" for i in range(2) for f in ("name", "city", "contract_value", "start_on", "end_on")},
    )
    page = client.post("/filing/apply", data=data, content_type="multipart/form-data").get_data(as_text=True)
    assert "请至少填写一个本省项目" in page
    assert db.session.scalar(select(func.count()).select_from(FilingApplication)) == 0


def test_edit_until_received_replaces_the_projects(app, client, auth, oop):
    record = make_filing_application(oop, status="submitted")
    auth.login(oop.username)
    edit = client.get(f"/filing/{record.id}/edit").get_data(as_text=True)
    assert "合肥安防工程1" in edit
    data = registration_form(
        client, f"/filing/{record.id}/edit", home_certificate=(io.BytesIO(b""), ""), version=str(record.version)
    )
    response = client.post(f"/filing/{record.id}/edit", data=data, content_type="multipart/form-data")
    assert response.status_code == 302
    db.session.expire_all()
    record = db.session.get(FilingApplication, record.id)
    assert [p.name for p in record.projects] == ["合肥市政务中心安防工程", "芜湖港监控系统"]
    assert record.home_certificate_file.original_name == "原籍资质证书.png"  # kept
    assert db.session.scalar(select(func.count()).select_from(FilingProject)) == 2
    apply(record, "receive", make_user("Reviewer"))
    response = client.get(f"/filing/{record.id}/edit", follow_redirects=True).get_data(as_text=True)
    assert "协会已接收" in response


def test_one_open_filing_and_renewal_window(app, client, auth, oop):
    reviewer = make_user("Reviewer")
    first = make_filing_application(oop, status="submitted")
    auth.login(oop.username)
    assert "已有正在办理的外省企业备案" in client.get("/filing/apply", follow_redirects=True).get_data(as_text=True)
    apply(first, "approve", reviewer)
    held = db.session.scalar(select(Certificate).where(Certificate.kind == "filing"))
    page = client.get("/filing/").get_data(as_text=True)
    opens = (held.valid_until - dt.timedelta(days=60)).isoformat()
    assert opens in page and "disabled" in page
    # 60 days (the setting) before expiry the enterprise may file again; the new validity follows the old one
    held.valid_from -= dt.timedelta(days=320)
    held.valid_until -= dt.timedelta(days=320)
    db.session.commit()
    assert client.get("/filing/apply").status_code == 200
    second = make_filing_application(oop, status="submitted")
    apply(second, "approve", reviewer)
    renewed = db.session.scalar(select(Certificate).where(Certificate.application_id == second.id))
    assert renewed.valid_from == held.valid_until + dt.timedelta(days=1)
    assert re.fullmatch(r"皖安协备\[\d{4}\]第\d{4}号", renewed.number) and renewed.number != held.number
    assert db.session.get(FilingApplication, second.id).renews_id == held.id


def test_in_province_enterprise_cannot_submit_a_filing(app):
    from app.workflows import GuardFailed, create_and_fire

    user = make_enterprise_user()
    values = {
        "home_qualification": "x",
        "person_in_charge": "x",
        "person_in_charge_phone": "13900000000",
        "home_certificate_file_id": stored_image(user).id,
    }
    with pytest.raises(GuardFailed):
        create_and_fire(FilingApplication, values, user)
    assert db.session.scalar(select(func.count()).select_from(FilingApplication)) == 0


def test_reviewer_sees_the_registration_form(app, client, auth, oop):
    record = make_filing_application(oop)
    reviewer = make_user("Reviewer")
    auth.login(reviewer.username)
    queue = client.get("/backoffice/review/filing/").get_data(as_text=True)
    assert oop.enterprise.name in queue
    page = client.get(f"/backoffice/review/filing/{record.id}").get_data(as_text=True)
    assert "合肥安防工程1" in page and "王负责" in page and "原籍资质证书.png" in page

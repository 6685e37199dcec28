"""F11 信息变更 through the portal: 申请变更 → 修改信息 with proofs → 提交申请, review, the profile and its history."""

from __future__ import annotations

import io

from sqlalchemy import func, select
from test_uploads import image_bytes

from app import db
from app.models import Application, AuditLog, CertificateEvent, ChangeRequest, Enterprise, ProfileChange
from app.workflows import apply
from conftest import csrf_token
from factories import make_certificate, make_change_request, make_enterprise_user, make_user

LICENSE = "proof_0"  # 变更后的营业执照 (first line of the default setting)
LEGAL_ID = "proof_1"  # 法定代表人身份证


def profile_form(enterprise: Enterprise, **changes) -> dict:
    data = {
        "name": enterprise.name,
        "legal_person": enterprise.legal_person or "",
        "registered_capital": "" if enterprise.registered_capital is None else str(enterprise.registered_capital),
        "address": enterprise.address or "",
        "contact_person": enterprise.contact_person or "",
        "mobile": enterprise.mobile or "",
        "landline": enterprise.landline or "",
        "email": enterprise.email or "",
        "business_scope": enterprise.business_scope or "",
        "explanation": "",
    }
    data.update(changes)
    return data


def png(name: str = "营业执照.png"):
    return (io.BytesIO(image_bytes()), name)


def post_change(client, owner, files: dict | None = None, **changes):
    data = profile_form(owner.enterprise, **changes)
    data["csrf_token"] = csrf_token(client, "/change/")
    data.update(files or {})
    return client.post("/change/apply", data=data, content_type="multipart/form-data")


def requests() -> int:
    return db.session.scalar(select(func.count()).select_from(ChangeRequest))


def test_the_page_follows_the_manual_and_shows_the_profile(app, client, auth):
    owner = make_enterprise_user(name="甲安防科技有限公司")
    auth.login(owner.username)
    page = client.get("/change/").get_data(as_text=True)
    assert "信息变更" in page and "申请变更" in page and "甲安防科技有限公司" in page
    assert owner.enterprise.credit_code in page and "不可变更" in page
    form = client.get("/change/apply").get_data(as_text=True)
    assert "修改信息" in form and "提交申请" in form and "变更后的营业执照" in form
    assert 'value="甲安防科技有限公司"' in form  # the current profile, ready to edit
    assert f'value="{owner.enterprise.credit_code}" readonly' in form and 'name="credit_code"' not in form


def test_portal_home_points_empty_fields_to_the_change(app, client, auth):
    owner = make_enterprise_user()
    owner.enterprise.legal_person = None
    db.session.commit()
    auth.login(owner.username)
    page = client.get("/portal/").get_data(as_text=True)
    assert 'class="profile-empty" href="/change/"' in page and "未填写" in page


def test_name_change_end_to_end(app, client, auth):
    owner = make_enterprise_user(name="旧名称安防有限公司")
    certificate = make_certificate(owner.enterprise)
    auth.login(owner.username)
    response = post_change(client, owner, {LICENSE: png()}, name="新名称安防有限公司", explanation="工商更名")
    assert response.status_code == 302
    record = db.session.scalar(select(ChangeRequest))
    assert record.status == "submitted" and record.name == "新名称安防有限公司"
    assert [f.requirement for f in record.files] == ["变更后的营业执照"]
    detail = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "旧名称安防有限公司" in detail and "新名称安防有限公司" in detail and "审核进度" in detail
    # nothing changes before the association approves
    db.session.expire_all()
    assert db.session.get(Enterprise, owner.enterprise_id).name == "旧名称安防有限公司"

    reviewer = make_user("Reviewer")
    apply(record, "receive", reviewer)
    apply(record, "approve", reviewer)
    db.session.expire_all()
    assert db.session.get(Enterprise, owner.enterprise_id).name == "新名称安防有限公司"
    history = db.session.scalars(select(ProfileChange)).all()
    assert [(h.field, h.old_value, h.new_value) for h in history] == [
        ("name", "旧名称安防有限公司", "新名称安防有限公司")
    ]
    assert history[0].approved_by_id == reviewer.id and history[0].changed_on is not None
    # the certificate is marked for reissue in its history; the status stays
    events = db.session.scalars(select(CertificateEvent).where(CertificateEvent.certificate_id == certificate.id)).all()
    assert [e.event for e in events] == ["issued", "reissue_needed"] and events[-1].to_status == "valid"
    assert db.session.scalar(select(AuditLog).where(AuditLog.object_type == "Enterprise")) is not None

    page = client.get("/change/").get_data(as_text=True)
    assert "变更记录" in page and "旧名称安防有限公司" in page and "新名称安防有限公司" in page
    detail = client.get(f"/change/{record.id}").get_data(as_text=True)
    assert "证书补办" in detail and certificate.number in detail
    assert f"/replacement/apply?certificate={certificate.id}" in detail
    # the back office sees the same history on the review page
    auth.logout()
    auth.login(reviewer.username)
    review = client.get(f"/backoffice/review/change/{record.id}").get_data(as_text=True)
    assert "变更记录" in review and "旧名称安防有限公司" in review


def test_bad_input_is_refused_in_chinese_and_nothing_is_stored(app, client, auth):
    owner = make_enterprise_user(name="原名安防有限公司")
    auth.login(owner.username)
    page = post_change(client, owner).get_data(as_text=True)  # nothing changed
    assert "未作任何变更" in page
    page = post_change(client, owner, name="没有证明安防有限公司").get_data(as_text=True)
    assert "请上传：变更后的营业执照" in page
    page = post_change(client, owner, {LICENSE: png()}, legal_person="新法人").get_data(as_text=True)
    assert "请上传：法定代表人身份证" in page
    page = post_change(client, owner, name="", mobile="12345", email="not-mail").get_data(as_text=True)
    assert "请输入企业名称" in page and "11 位手机号" in page and "电子邮箱" in page
    page = post_change(client, owner, {LICENSE: (io.BytesIO(b"MZ\x90\x00"), "执照.png")}, name="坏文件有限公司")
    assert page.status_code == 200
    assert requests() == 0
    db.session.expire_all()
    assert db.session.get(Enterprise, owner.enterprise_id).name == "原名安防有限公司"


def test_credit_code_cannot_change(app, client, auth):
    owner = make_enterprise_user()
    code = owner.enterprise.credit_code
    auth.login(owner.username)
    response = post_change(client, owner, {LICENSE: png()}, name="改码安防有限公司", credit_code="91340100MA2XXXXX0X")
    assert response.status_code == 302
    record = db.session.scalar(select(ChangeRequest))
    apply(record, "approve", make_user("Reviewer"))
    db.session.expire_all()
    assert db.session.get(Enterprise, owner.enterprise_id).credit_code == code
    assert not hasattr(ChangeRequest, "credit_code")


def test_edits_lock_after_received(app, client, auth):
    owner = make_enterprise_user()
    record = make_change_request(owner, "submitted")
    auth.login(owner.username)
    data = profile_form(owner.enterprise, name="修改后的新名称有限公司", version=str(record.version))
    data["csrf_token"] = csrf_token(client, "/change/")
    assert client.post(f"/change/{record.id}/edit", data=data).status_code == 302
    db.session.expire_all()
    assert db.session.get(ChangeRequest, record.id).name == "修改后的新名称有限公司"
    apply(db.session.get(ChangeRequest, record.id), "receive", make_user("Reviewer"))
    data = profile_form(owner.enterprise, name="接收后又改的名称", version=str(record.version + 2))
    data["csrf_token"] = csrf_token(client, "/change/")
    response = client.post(f"/change/{record.id}/edit", data=data, follow_redirects=True)
    assert "已接收" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(ChangeRequest, record.id).name == "修改后的新名称有限公司"


def test_one_open_change_at_a_time(app, client, auth):
    owner = make_enterprise_user()
    make_change_request(owner, "submitted")
    auth.login(owner.username)
    response = client.get("/change/apply", follow_redirects=True)
    assert "已有一个信息变更正在办理" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Application)) == 1


def test_other_fields_change_without_reissue(app, client, auth):
    owner = make_enterprise_user()
    certificate = make_certificate(owner.enterprise)
    auth.login(owner.username)
    post_change(client, owner, contact_person="新联系人", mobile="13955556666")
    record = db.session.scalar(select(ChangeRequest))
    assert record is not None and record.files == []  # contact data needs no proof by default
    apply(record, "approve", make_user("Reviewer"))
    db.session.expire_all()
    enterprise = db.session.get(Enterprise, owner.enterprise_id)
    assert (enterprise.contact_person, enterprise.mobile) == ("新联系人", "13955556666")
    events = db.session.scalars(select(CertificateEvent.event).where(CertificateEvent.certificate_id == certificate.id))
    assert list(events) == ["issued"]

"""F12 证书补办 through the portal: 挂失申请 → 填写挂失申请资料 → 提交申请, review, the reissued copy and delivery."""

from __future__ import annotations

import io

from sqlalchemy import func, select
from test_uploads import image_bytes

from app import db
from app.models import Certificate, CertificateEvent, ReplacementRequest, Setting
from app.workflows import apply
from app.workflows.replacement import voided_copies
from conftest import csrf_token
from factories import make_certificate, make_enterprise_user, make_replacement_request, make_user


def post_report(client, certificate_id: int, proof: bool = True, **overrides):
    data = {
        "certificate": str(certificate_id),
        "copy": "original",
        "reason": "lost",
        "statement": "证书正本在办公室搬迁中遗失，已于报纸刊登遗失声明。",
        "csrf_token": csrf_token(client, "/replacement/"),
    }
    if proof:
        data["proof"] = (io.BytesIO(image_bytes()), "遗失声明.png")
    data.update(overrides)
    return client.post("/replacement/apply", data=data, content_type="multipart/form-data")


def requests() -> int:
    return db.session.scalar(select(func.count()).select_from(ReplacementRequest))


def test_page_follows_the_manual(app, client, auth):
    owner = make_enterprise_user()
    make_certificate(owner.enterprise)
    auth.login(owner.username)
    page = client.get("/replacement/").get_data(as_text=True)
    assert "证书补办" in page and "挂失申请" in page
    form = client.get("/replacement/apply").get_data(as_text=True)
    for words in ("挂失申请", "正本", "副本", "遗失", "损毁", "情况说明", "证明材料", "提交申请"):
        assert words in form


def test_the_picker_offers_only_own_certificates_in_force(app, client, auth):
    owner, other = make_enterprise_user(), make_enterprise_user()
    mine = make_certificate(owner.enterprise)
    revoked = make_certificate(owner.enterprise, "L2")
    revoked.status = "revoked"
    theirs = make_certificate(other.enterprise)
    db.session.commit()
    auth.login(owner.username)
    form = client.get("/replacement/apply").get_data(as_text=True)
    assert mine.number in form and theirs.number not in form and revoked.number not in form
    assert post_report(client, theirs.id).status_code == 200
    assert post_report(client, revoked.id).status_code == 200
    assert requests() == 0


def test_without_certificates_there_is_nothing_to_report(app, client, auth):
    auth.login(make_enterprise_user().username)
    response = client.get("/replacement/apply", follow_redirects=True)
    assert "没有可补办的有效证书" in response.get_data(as_text=True)


def test_bad_input_is_refused_in_chinese(app, client, auth):
    owner = make_enterprise_user()
    certificate = make_certificate(owner.enterprise)
    certificate.copies_duplicate = 0
    db.session.commit()
    auth.login(owner.username)
    page = post_report(client, certificate.id, proof=False).get_data(as_text=True)
    assert "请上传证明材料" in page
    page = post_report(client, certificate.id, statement="", copy="", reason="").get_data(as_text=True)
    assert "请填写" in page and "请选择正本或副本" in page and "请选择补办原因" in page
    page = post_report(client, certificate.id, copy="duplicate").get_data(as_text=True)
    assert "该证书没有此证件" in page
    assert requests() == 0


def test_reissue_bumps_the_copy_and_voids_the_old_one(app, client, auth):
    owner = make_enterprise_user()
    certificate = make_certificate(owner.enterprise)
    auth.login(owner.username)
    response = post_report(client, certificate.id)
    assert response.status_code == 302
    record = db.session.scalar(select(ReplacementRequest))
    assert record.status == "submitted" and record.files[0].requirement == "replacement_proof"
    reviewer = make_user("Reviewer")
    apply(record, "receive", reviewer)
    # locked after 接收
    edit = client.post(
        f"/replacement/{record.id}/edit",
        data={
            "certificate": str(certificate.id),
            "copy": "original",
            "reason": "damaged",
            "statement": "改",
            "csrf_token": csrf_token(client, "/replacement/"),
        },
        follow_redirects=True,
    )
    assert "已接收" in edit.get_data(as_text=True)
    apply(record, "approve", reviewer)
    db.session.expire_all()
    certificate = db.session.get(Certificate, certificate.id)
    record = db.session.get(ReplacementRequest, record.id)
    assert (certificate.copies_original, certificate.copies_duplicate, certificate.status) == (2, 1, "valid")
    assert (record.issued_serial, record.voided_serial, record.reason) == (2, 1, "lost")
    events = db.session.scalars(select(CertificateEvent).where(CertificateEvent.certificate_id == certificate.id)).all()
    assert [e.event for e in events] == ["issued", "copy_reissued"]
    assert "正本第 2 份已补发" in events[-1].note and "正本第 1 份作废" in events[-1].note
    assert voided_copies(certificate.id) == [("original", 1)]
    # 证书发放方式 as in 入会申请; free by default, so choosing it completes the reissue
    detail = client.get(f"/replacement/{record.id}").get_data(as_text=True)
    assert "证书发放方式" in detail and "免费" in detail and "作废" in detail
    response = client.post(
        f"/replacement/{record.id}/delivery",
        data={"delivery_method": "pickup", "csrf_token": csrf_token(client, f"/replacement/{record.id}")},
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(ReplacementRequest, record.id).status == "completed"
    history = client.get(f"/qualification/certificates/{certificate.id}").get_data(as_text=True)
    assert "补发" in history and "作废" in history
    auth.logout()
    auth.login(reviewer.username)
    review = client.get(f"/backoffice/review/replacement/{record.id}").get_data(as_text=True)
    assert certificate.number in review and "遗失" in review and "正本第 2 份已补发" in review


def test_a_fee_sends_the_enterprise_to_payment(app, client, auth):
    db.session.get(Setting, "replacement.fee").value = "50"
    db.session.commit()
    owner = make_enterprise_user()
    record = make_replacement_request(owner, "submitted")
    apply(record, "approve", make_user("Reviewer"))
    auth.login(owner.username)
    assert "补办费用" in client.get(f"/replacement/{record.id}").get_data(as_text=True)
    response = client.post(
        f"/replacement/{record.id}/delivery",
        data={"delivery_method": "pickup", "csrf_token": csrf_token(client, f"/replacement/{record.id}")},
    )
    assert response.headers["Location"].endswith(f"/replacement/{record.id}/pay")
    pay = client.get(f"/replacement/{record.id}/pay").get_data(as_text=True)
    assert "补办费用" in pay and "50.00" in pay and "年费" not in pay
    db.session.expire_all()
    record = db.session.get(ReplacementRequest, record.id)
    assert record.status == "approved" and float(record.payment.fee) == 50


def test_a_name_change_reissue_carries_the_new_name(app, client, auth):
    owner = make_enterprise_user(name="旧名安防有限公司")
    certificate = make_certificate(owner.enterprise)
    owner.enterprise.name = "新名安防有限公司"
    db.session.commit()
    record = make_replacement_request(owner, "submitted", certificate=certificate, reason="changed")
    apply(record, "approve", make_user("Reviewer"))
    db.session.expire_all()
    assert db.session.get(Certificate, certificate.id).holder_name == "新名安防有限公司"


def test_one_open_report_per_copy(app, client, auth):
    owner = make_enterprise_user()
    certificate = make_certificate(owner.enterprise)
    make_replacement_request(owner, "submitted", certificate=certificate)
    auth.login(owner.username)
    page = post_report(client, certificate.id).get_data(as_text=True)
    assert "该证件已有补办申请正在办理" in page
    assert requests() == 1
    assert post_report(client, certificate.id, copy="duplicate").status_code == 302
    assert requests() == 2


def test_the_verification_page_says_which_copy_is_void(app, client, auth):
    """§4: after a reissue the public page and the API name the old copy as void."""
    from urllib.parse import quote

    owner = make_enterprise_user()
    certificate = make_certificate(owner.enterprise)
    auth.login(owner.username)
    assert post_report(client, certificate.id).status_code == 302
    auth.logout()
    page = client.get(f"/verify/{quote(certificate.number)}").get_data(as_text=True)
    assert "已作废" not in page
    record = db.session.scalar(select(ReplacementRequest))
    reviewer = make_user("Reviewer")
    apply(record, "receive", reviewer)
    apply(record, "approve", reviewer)
    page = client.get(f"/verify/{quote(certificate.number)}").get_data(as_text=True)
    assert "以下证书已补发，原件作废：正本第 1 份" in page
    data = client.get(f"/api/v1/certificates/{quote(certificate.number)}").get_json()
    assert data["certificate"]["void_copies"] == ["正本第 1 份"]

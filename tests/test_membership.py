"""F4 入会申请 through the portal: notice and its reading time, form, timeline, locks, payment, member."""

from __future__ import annotations

import datetime as dt
import io

from sqlalchemy import func, select
from test_uploads import image_bytes

from app import db
from app.models import Application, Membership, MembershipApplication, MemberTier, Notification, StoredFile
from app.workflows import apply
from conftest import csrf_token
from factories import make_enterprise_user, make_membership_application, make_user

FORM = {
    "legal_person": "张法人",
    "registered_capital": "800",
    "employees": "60",
    "technical_staff": "15",
    "main_business": "安防工程设计、施工与维护",
    "introduction": "成立于2010年。",
    "contact_person": "李联系",
    "contact_phone": "13812345678",
}


def tier_id(name="理事单位"):
    return db.session.scalar(select(MemberTier.id).where(MemberTier.name == name))


def read_notice(client, seconds_ago: int = 20):
    """Open the notice, as if `seconds_ago` seconds had passed, then tick 已阅读 and click 入会申请."""
    client.get("/membership/notice")
    with client.session_transaction() as session:
        opened = dt.datetime.fromisoformat(session["membership_notice_opened"])
        session["membership_notice_opened"] = (opened - dt.timedelta(seconds=seconds_ago)).isoformat()
    return client.post("/membership/notice", data={"read": "y", "csrf_token": csrf_token(client, "/membership/")})


def submit_form(client, **overrides):
    data = dict(FORM, tier=str(tier_id()), csrf_token=csrf_token(client, "/membership/"))
    data.update(overrides)
    return client.post("/membership/apply", data=data)


def applications():
    return db.session.scalar(select(func.count()).select_from(Application))


def test_portal_page_follows_the_manual(app, client, auth):
    auth.login(make_enterprise_user().username)
    page = client.get("/membership/").get_data(as_text=True)
    assert "查看入会须知" in page and "入会申请" in page
    page = client.get("/membership/notice").get_data(as_text=True)
    assert "已阅读入会须知" in page and "入会申请" in page and "一、入会条件" in page
    assert 'data-seconds="15"' in page


def test_notice_must_be_read_for_fifteen_seconds(app, client, auth):
    auth.login(make_enterprise_user().username)
    response = read_notice(client, seconds_ago=3)
    assert response.status_code == 200 and "至少 15 秒" in response.get_data(as_text=True)
    assert client.get("/membership/apply").headers["Location"].endswith("/membership/notice")
    response = read_notice(client, seconds_ago=16)
    assert response.headers["Location"].endswith("/membership/apply")


def test_notice_checkbox_is_required(app, client, auth):
    auth.login(make_enterprise_user().username)
    client.get("/membership/notice")
    response = client.post("/membership/notice", data={"csrf_token": csrf_token(client, "/membership/")})
    assert "请勾选" in response.get_data(as_text=True)


def test_reading_time_is_configuration(app, client, auth):
    from app.models import Setting

    db.session.get(Setting, "membership.notice_seconds").value = "30"
    db.session.commit()
    auth.login(make_enterprise_user().username)
    assert "至少 30 秒" in read_notice(client, seconds_ago=20).get_data(as_text=True)


def test_server_refuses_an_application_whose_notice_was_opened_too_recently(app, client, auth):
    auth.login(make_enterprise_user().username)
    read_notice(client)
    # The user re-opens the notice in another tab: the form must not go through on the fresh clock.
    with client.session_transaction() as session:
        session["membership_notice_read"] = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat()
    response = submit_form(client)
    assert response.status_code == 200 and "至少 15 秒" in response.get_data(as_text=True)
    assert applications() == 0


def test_submit_shows_the_timeline(app, client, auth):
    user = make_enterprise_user()
    auth.login(user.username)
    read_notice(client)
    response = submit_form(client)
    record = db.session.scalar(select(MembershipApplication))
    assert response.headers["Location"].endswith(f"/membership/{record.id}")
    assert record.status == "submitted" and record.tier.name == "理事单位" and record.employees == 60
    page = client.get(f"/membership/{record.id}").get_data(as_text=True)
    assert "审核进度" in page and "已提交" in page and "修改资料" in page and "撤回" in page


def test_form_validation_changes_nothing(app, client, auth):
    auth.login(make_enterprise_user().username)
    read_notice(client)
    for overrides, message in (
        ({"employees": "abc"}, "请输入整数"),
        ({"technical_staff": "100"}, "不能多于职工人数"),
        ({"contact_phone": "123"}, "11位手机号"),
        ({"legal_person": ""}, "请输入法定代表人"),
        ({"registered_capital": "-5"}, "不能为负数"),
    ):
        response = submit_form(client, **overrides)
        assert response.status_code == 200 and message in response.get_data(as_text=True), message
    assert applications() == 0


def test_one_open_application_at_a_time(app, client, auth):
    user = make_enterprise_user()
    make_membership_application(user.enterprise, status="approved")  # approved but unpaid
    auth.login(user.username)
    # told on the 入会申请 page, before sitting through the notice
    assert client.get("/membership/notice").headers["Location"].endswith("/membership/")
    with client.session_transaction() as session:  # a notice read earlier does not get past the server
        session["membership_notice_read"] = (dt.datetime.now(dt.UTC).replace(tzinfo=None)).isoformat()
    response = client.get("/membership/apply")
    assert response.headers["Location"].endswith("/membership/")
    assert submit_form(client).headers["Location"].endswith("/membership/")
    assert applications() == 1


def test_edit_allowed_until_received_and_refused_after_on_the_server(app, client, auth):
    user = make_enterprise_user()
    record = make_membership_application(user.enterprise, status="submitted")
    auth.login(user.username)
    data = dict(
        FORM,
        tier=str(tier_id("会员单位")),
        main_business="修改后的主营业务",
        csrf_token=csrf_token(client, "/membership/"),
    )
    assert client.post(f"/membership/{record.id}/edit", data=data).status_code == 302
    db.session.expire_all()
    assert record.main_business == "修改后的主营业务"
    apply(record, "receive", make_user("Reviewer"))
    data["main_business"] = "接收后不应生效"
    response = client.post(f"/membership/{record.id}/edit", data=data)
    assert response.status_code == 302
    db.session.expire_all()
    assert record.main_business == "修改后的主营业务"
    assert "修改资料" not in client.get(f"/membership/{record.id}").get_data(as_text=True)


def test_returned_application_is_fixed_and_resubmitted(app, client, auth):
    user = make_enterprise_user()
    record = make_membership_application(user.enterprise, status="submitted")
    apply(record, "return", make_user("Reviewer"), comment="请补充企业简介")
    auth.login(user.username)
    page = client.get(f"/membership/{record.id}").get_data(as_text=True)
    assert "请补充企业简介" in page and "重新提交" in page
    token = csrf_token(client, "/membership/")
    client.post(f"/membership/{record.id}/act", data={"transition": "resubmit", "csrf_token": token})
    db.session.expire_all()
    assert record.status == "submitted"
    # The enterprise cannot fire a reviewer's transition through its own route.
    client.post(f"/membership/{record.id}/act", data={"transition": "approve", "csrf_token": token})
    db.session.expire_all()
    assert record.status == "submitted"


def pay(client, record_id, data=b"", filename="pay.png", phone="13812345678"):
    token = csrf_token(client, "/membership/")
    client.post(f"/membership/{record_id}/delivery", data={"delivery_method": "pickup", "csrf_token": token})
    return client.post(
        f"/membership/{record_id}/pay",
        data={"screenshot": (io.BytesIO(data or image_bytes()), filename), "payment_phone": phone, "csrf_token": token},
        content_type="multipart/form-data",
    )


def test_delivery_by_mail_needs_an_address(app, client, auth):
    user = make_enterprise_user()
    record = make_membership_application(user.enterprise, status="approved")
    auth.login(user.username)
    token = csrf_token(client, "/membership/")
    response = client.post(f"/membership/{record.id}/delivery", data={"delivery_method": "mail", "csrf_token": token})
    assert response.headers["Location"].endswith(f"/membership/{record.id}")
    db.session.expire_all()
    assert record.payment is None or record.payment.delivery_method is None
    response = client.post(
        f"/membership/{record.id}/delivery",
        data={
            "delivery_method": "mail",
            "mail_recipient": "王收件",
            "mail_phone": "13811112222",
            "mail_address": "合肥市政务区1号",
            "csrf_token": token,
        },
    )
    assert response.headers["Location"].endswith(f"/membership/{record.id}/pay")
    db.session.expire_all()
    assert (record.payment.delivery_method, record.payment.mail_address) == ("mail", "合肥市政务区1号")


def test_bad_screenshot_is_refused_and_nothing_changes(app, client, auth):
    user = make_enterprise_user()
    record = make_membership_application(user.enterprise, status="approved")
    auth.login(user.username)
    response = pay(client, record.id, data=b"<html>not an image</html>", filename="pay.png")
    assert response.status_code == 200 and "已损坏" in response.get_data(as_text=True)
    response = pay(client, record.id, data=b"%PDF-1.4\n%%EOF", filename="pay.pdf")
    assert "JPG/PNG" in response.get_data(as_text=True)
    db.session.expire_all()
    assert record.status == "approved" and (record.payment is None or record.payment.file_id is None)
    assert db.session.scalar(select(func.count()).select_from(StoredFile)) == 0


def test_payment_confirmation_and_return(app, client, auth):
    user = make_enterprise_user()
    reviewer = make_user("Reviewer")
    record = make_membership_application(user.enterprise, status="approved", payment={"fee": 5000})
    auth.login(user.username)
    response = pay(client, record.id)
    assert response.headers["Location"].endswith(f"/membership/{record.id}")
    db.session.expire_all()
    assert record.status == "payment_submitted" and record.payment.file_id and record.payment.submitted_on
    apply(record, "return_payment", reviewer, comment="金额不符")
    assert pay(client, record.id).status_code == 302
    db.session.expire_all()
    apply(record, "confirm_payment", reviewer)
    membership = db.session.scalar(select(Membership))
    assert membership.enterprise_id == user.enterprise_id and membership.fee == 5000
    page = client.get("/membership/").get_data(as_text=True)
    assert membership.member_number in page and "会员编号" in page
    page = client.get(f"/membership/{record.id}").get_data(as_text=True)
    assert "入会成功" in page and membership.member_number in page
    # Messages: the enterprise was told about the return and the confirmation.
    subjects = db.session.scalars(select(Notification.subject).where(Notification.channel == "inapp")).all()
    assert any("缴费被退回" in s for s in subjects) and any("入会成功" in s for s in subjects)
    page = client.get("/messages/").get_data(as_text=True)
    assert "金额不符" in page


def test_unread_counter_in_the_header(app, client, auth):
    user = make_enterprise_user()
    record = make_membership_application(user.enterprise, status="submitted")
    apply(record, "receive", make_user("Reviewer"))
    auth.login(user.username)
    assert 'class="badge unread-badge">1<' in client.get("/membership/").get_data(as_text=True)
    client.get("/messages/")
    assert "unread-badge" not in client.get("/membership/").get_data(as_text=True)


def test_withdraw(app, client, auth):
    user = make_enterprise_user()
    record = make_membership_application(user.enterprise, status="submitted")
    auth.login(user.username)
    client.post(
        f"/membership/{record.id}/act",
        data={"transition": "withdraw", "csrf_token": csrf_token(client, "/membership/")},
    )
    db.session.expire_all()
    assert record.status == "withdrawn"


def test_payment_cannot_skip_the_payment_form(app, client, auth):
    user = make_enterprise_user()
    reviewer = make_user("Reviewer")
    record = make_membership_application(user.enterprise, status="approved")
    auth.login(user.username)
    assert pay(client, record.id).status_code == 302
    db.session.refresh(record)
    apply(record, "return_payment", reviewer, comment="截图不清晰")
    db.session.expire_all()
    assert record.status == "payment_returned" and record.payment.file_id is None  # a new screenshot is needed
    token = csrf_token(client, "/membership/")
    client.post(f"/membership/{record.id}/act", data={"transition": "pay", "csrf_token": token})
    client.post(f"/membership/{record.id}/act", data={"transition": "submit", "csrf_token": token})
    db.session.expire_all()
    assert record.status == "payment_returned"


def test_reviewer_cannot_approve_what_changed_since_the_page_was_loaded(app, client, auth):
    owner = make_enterprise_user()
    record = make_membership_application(owner.enterprise, status="submitted")
    seen_version = record.version
    # The enterprise edits its materials after the reviewer opened the page.
    owner_client = app.test_client()
    from conftest import AuthActions

    AuthActions(owner_client).login(owner.username)
    data = dict(
        FORM, tier=str(tier_id()), main_business="改过的内容", csrf_token=csrf_token(owner_client, "/membership/")
    )
    owner_client.post(f"/membership/{record.id}/edit", data=data)
    auth.login(make_user("Reviewer").username)
    token = csrf_token(client, "/backoffice/review/")
    response = client.post(
        f"/backoffice/review/membership/{record.id}/act",
        data={"transition": "approve", "version": str(seen_version), "csrf_token": token},
    )
    assert "刷新" in client.get(response.headers["Location"]).get_data(as_text=True)
    db.session.expire_all()
    assert record.status == "submitted" and record.main_business == "改过的内容"


def test_delivery_choice_is_audited_and_locked_to_payable_states(app, client, auth):
    from app.models import AuditLog

    user = make_enterprise_user()
    record = make_membership_application(user.enterprise, status="received")
    auth.login(user.username)
    token = csrf_token(client, "/membership/")
    client.post(f"/membership/{record.id}/delivery", data={"delivery_method": "pickup", "csrf_token": token})
    db.session.expire_all()
    assert record.payment is None or record.payment.delivery_method is None
    apply(record, "approve", make_user("Reviewer"))
    client.post(f"/membership/{record.id}/delivery", data={"delivery_method": "pickup", "csrf_token": token})
    db.session.expire_all()
    assert record.payment.delivery_method == "pickup"
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.after.contains("pickup"))) == 1

"""Wrong or missing words (issue 11 §2), and the membership page for an existing member (§3)."""

from __future__ import annotations

from test_translations import visible_text

from app import db
from app.memberships import grant
from app.models import Setting
from conftest import csrf_token
from factories import make_batch, make_enterprise_user, make_membership_application, make_user, ready_membership


def shown(client, url: str) -> str:
    return " ".join(visible_text(client.get(url, follow_redirects=True).get_data(as_text=True)))


def test_training_fee_and_enrolment_bulk_bar(app, client, auth):
    batch = make_batch()
    owner = make_enterprise_user()
    auth.login(make_user("AssociationAdmin").username)
    assert "培训费（元）" in shown(client, "/backoffice/training/batches/add")
    assert "培训费（元）" in shown(client, f"/backoffice/training/batches/show/{batch.id}")
    assert "对选中的报名" in shown(client, f"/backoffice/training/{batch.id}/")
    assert "注册时间" in shown(client, "/backoffice/enterprises/list/")
    auth.logout()
    auth.login(owner.username)
    page = shown(client, f"/training/batch/{batch.id}")
    assert "培训费（元）" in page and "会费" not in page


def payable(owner):
    record = ready_membership(owner, "approved")
    return record.id


def test_payment_page_without_account_tells_whom_to_call(app, client, auth):
    owner = make_enterprise_user()
    record_id = payable(owner)
    auth.login(owner.username)
    page = shown(client, f"/membership/{record_id}/pay")
    assert "联系手机号" in page
    assert "由协会在后台" not in page and "尚未在此公布收款账户" in page
    assert app.config["ASSOCIATION_CONTACT"] in page
    setting = db.session.get(Setting, "membership.payment_instructions")
    setting.value = "户名：安徽省安全技术防范行业协会\n开户行：某银行合肥分行\n账号：1234 5678 9012"
    db.session.commit()
    page = shown(client, f"/membership/{record_id}/pay")
    assert "账号：1234 5678 9012" in page and "尚未在此公布收款账户" not in page


def test_workbench_warns_association_admin_of_missing_payment_instructions(app, client, auth):
    auth.login(make_user("AssociationAdmin").username)
    page = client.get("/backoffice/").get_data(as_text=True)
    assert "缴费说明中尚未填写收款账户" in page and "/backoffice/settings/edit/membership.payment_instructions" in page
    auth.logout()
    auth.login(make_user("Reviewer").username)
    assert "缴费说明中尚未填写收款账户" not in client.get("/backoffice/").get_data(as_text=True)
    auth.logout()
    db.session.get(Setting, "membership.payment_instructions").value = "户名：协会 账号：1234"
    db.session.commit()
    auth.login(make_user("AssociationAdmin").username)
    assert "缴费说明中尚未填写收款账户" not in client.get("/backoffice/").get_data(as_text=True)


def test_reviewer_sees_the_member_number_of_a_completed_application(app, client, auth):
    owner = make_enterprise_user()
    record = ready_membership(owner, "completed")
    membership = grant(owner.enterprise_id, record.tier_id, 2000, application_id=record.id)
    db.session.commit()
    number = membership.member_number
    auth.login(make_user("Reviewer").username)
    assert number in shown(client, f"/backoffice/review/membership/{record.id}")


def test_portal_shows_the_login_phone_not_the_old_contact_mobile(app, client, auth):
    owner = make_enterprise_user(mobile="13700000077")  # the legacy contact mobile
    auth.login(owner.username)
    page = client.get("/portal/").get_data(as_text=True)
    assert f'<td colspan="3" class="login-phone">{owner.phone}</td>' in page
    assert "登录手机号" in page


def test_an_existing_member_is_told_and_not_offered_the_notice(app, client, auth):
    owner = make_enterprise_user()
    record = ready_membership(owner, "completed")
    grant(owner.enterprise_id, record.tier_id, 2000, application_id=record.id)
    db.session.commit()
    auth.login(owner.username)
    page = client.get("/membership/").get_data(as_text=True)
    assert "贵企业已是会员，无需再次申请入会" in page and 'href="/membership/notice"' not in page
    response = client.get("/membership/notice")
    assert response.status_code == 302 and response.headers["Location"].endswith("/membership/")
    assert "已是会员" in shown(client, "/membership/")
    assert csrf_token(client, "/membership/")


def test_an_enterprise_without_membership_is_offered_the_notice(app, client, auth):
    owner = make_enterprise_user()
    make_membership_application(owner.enterprise, status="withdrawn")
    auth.login(owner.username)
    assert 'href="/membership/notice"' in client.get("/membership/").get_data(as_text=True)
    assert client.get("/membership/notice").status_code == 200

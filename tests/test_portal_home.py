"""Portal home (issue 11 §4): status cards that tell the enterprise where it stands and what to do next."""

from __future__ import annotations

import datetime as dt

from app import clock
from app.memberships import grant
from app.workflows import apply
from factories import (
    make_certificate,
    make_enterprise_user,
    make_membership_application,
    make_staff,
    make_user,
    ready_membership,
)


def test_a_new_enterprise_sees_what_it_has_not_done_yet(app, client, auth):
    owner = make_enterprise_user()
    auth.login(owner.username)
    page = client.get("/portal/").get_data(as_text=True)
    assert "尚未入会" in page and "尚无资质证书" in page and "暂无办理中的申请" in page
    for link in ("/membership/", "/qualification/certificates/", "/messages/", "/training/"):
        assert f'href="{link}"' in page


def test_cards_show_membership_certificate_deadlines_applications_messages_and_staff(app, client, auth):
    owner = make_enterprise_user()
    returned = make_membership_application(owner.enterprise, status="submitted")
    apply(returned, "return", make_user("Reviewer"), comment="请补充")  # also an unread message
    start = clock.today() - dt.timedelta(days=340)
    certificate = make_certificate(owner.enterprise, "L3", valid_from=start)
    make_staff(owner.enterprise, 31)
    make_staff(owner.enterprise, 32)
    auth.login(owner.username)
    page = client.get("/portal/").get_data(as_text=True)
    assert "入会申请审核中" in page
    assert certificate.number in page and f"有效期至 {certificate.valid_until.isoformat()}" in page
    anniversary = start.replace(year=start.year + 1)
    assert f"年审：{(anniversary - dt.timedelta(days=30)).isoformat()} 至" in page
    assert f"{(certificate.valid_until - dt.timedelta(days=90)).isoformat()} 起可申请到期换证" in page
    assert f'href="/membership/{returned.id}"' in page and "下一步：按协会意见修改后重新提交" in page
    assert '<span class="portal-card-value text-danger">1</span>' in page
    assert '<span class="portal-card-value">2</span>' in page


def test_a_member_sees_until_when(app, client, auth):
    owner = make_enterprise_user()
    record = ready_membership(owner, "completed")
    membership = grant(owner.enterprise_id, record.tier_id, 2000, application_id=record.id)
    from app import db

    db.session.commit()
    auth.login(owner.username)
    page = client.get("/portal/").get_data(as_text=True)
    assert f"会员有效期至 {membership.valid_until.isoformat()}" in page and membership.member_number in page


def test_an_approved_application_asks_for_payment(app, client, auth):
    owner = make_enterprise_user()
    record = make_membership_application(owner.enterprise, status="approved")
    auth.login(owner.username)
    page = client.get("/portal/").get_data(as_text=True)
    assert f'href="/membership/{record.id}"' in page and "选择证书发放方式并缴费" in page

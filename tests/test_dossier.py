"""企业档案 (#13 section 2): one read-only page per enterprise with bounded, linked sections, and one search
box on the enterprises list."""

import csv
import html
import io
import re

from app import db
from app.memberships import grant
from app.models import MemberTier
from app.notify import notify_enterprise
from app.workflows import apply
from factories import (
    make_certificate,
    make_change_request,
    make_enterprise,
    make_enterprise_user,
    make_membership_application,
    make_staff,
    make_user,
    stored_image,
)


def section(page: str, key: str) -> str:
    start = page.index(f'id="{key}"')
    end = page.find('<div class="panel panel-default"', start + 1)
    return page[start : end if end > 0 else len(page)]


def test_dossier_gathers_every_section_with_counts_and_links(app, client, auth):
    owner = make_enterprise_user(name="档案齐全安防有限公司")
    enterprise = owner.enterprise
    reviewer = make_user("AssociationAdmin")
    apply(make_change_request(owner, "submitted", name="档案齐全安防科技有限公司"), "approve", reviewer)
    tier = db.session.query(MemberTier).first()
    membership = grant(enterprise.id, tier.id, tier.annual_fee)
    db.session.commit()
    certificate = make_certificate(enterprise)
    make_membership_application(enterprise, status="submitted")
    for seq in range(7):
        make_staff(enterprise, 800 + seq)
    notify_enterprise(enterprise.id, "证书即将到期", "请及时办理", sms=False)
    db.session.commit()
    stored_image(owner, name="营业执照.png")
    make_staff(make_enterprise(name="别家安防公司"), 900)

    auth.login(reviewer.username)
    page = client.get(f"/backoffice/enterprises/show/{enterprise.id}").get_data(as_text=True)
    assert "档案齐全安防科技有限公司" in page
    changes = section(page, "changes")
    assert "档案齐全安防有限公司" in changes and "档案齐全安防科技有限公司" in changes  # old → new
    assert "_flt_3_object_type=Enterprise" in html.unescape(changes)  # audit log of the profile
    assert owner.username in section(page, "accounts")
    assert membership.member_number in section(page, "memberships")
    certificates = section(page, "certificates")
    assert certificate.number in certificates and "发证" in certificates  # its history
    applications = section(page, "applications")
    assert "入会申请" in applications and "已提交" in applications
    assert f"enterprise={enterprise.credit_code}" in html.unescape(applications)
    staff = section(page, "staff")
    assert "共 7 条" in staff and len(re.findall(r"/backoffice/staff/\d+", staff)) == 5  # bounded
    assert "别家安防公司" not in page
    assert "证书即将到期" in section(page, "messages")
    assert "营业执照" in section(page, "files") and "PNG" in section(page, "files")


def test_dossier_is_read_only_and_not_for_enterprises(app, client, auth):
    owner = make_enterprise_user()
    other = make_enterprise_user()
    auth.login(owner.username)
    for target in (owner, other):
        response = client.get(f"/backoffice/enterprises/show/{target.enterprise_id}")
        assert response.status_code in (302, 403, 404)
    auth.logout()
    auth.login(make_user("Reviewer").username)
    assert client.get("/backoffice/enterprises/show/999999").status_code == 404
    assert client.get(f"/backoffice/enterprises/edit/{owner.enterprise_id}").status_code in (404, 405)


def test_one_search_box_finds_by_name_code_phone_member_or_certificate_number(app, client, auth):
    wanted = make_enterprise_user(name="要找的安防工程有限公司", landline="0551-66668888").enterprise
    other = make_enterprise(name="无关安防有限公司")
    tier = db.session.query(MemberTier).first()
    membership = grant(wanted.id, tier.id, tier.annual_fee)
    db.session.commit()
    certificate = make_certificate(wanted)
    account_phone = wanted.users[0].phone
    auth.login(make_user("Reviewer").username)
    for needle in (
        "要找的",
        wanted.credit_code,
        wanted.credit_code.lower(),
        wanted.mobile,
        "0551-66668888",
        account_phone,
        membership.member_number,
        certificate.number,
    ):
        page = client.get("/backoffice/enterprises/list/", query_string={"q": needle}).get_data(as_text=True)
        assert "要找的安防工程有限公司" in page, needle
        assert other.name not in page, needle
    page = client.get("/backoffice/enterprises/list/", query_string={"q": "没有这家"}).get_data(as_text=True)
    assert "要找的安防工程有限公司" not in page
    # the search box is on the list, and the export honours it
    page = client.get("/backoffice/enterprises/list/", query_string={"q": "要找的"}).get_data(as_text=True)
    assert 'name="q"' in page and "dossier-search" in page
    export = re.search(r'href="([^"]*/backoffice/enterprises/csv[^"]*)"', page)
    assert export, "导出 CSV link"
    response = client.get(html.unescape(export.group(1)))
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][0] == "企业名称"
    assert [row[0] for row in rows[1:]] == ["要找的安防工程有限公司"]

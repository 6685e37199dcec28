"""导出 CSV of every back-office list: the list's filters, Chinese headers and labels, BOM, neutralised
formulas, Asia/Shanghai times, scope, and an audit row per export."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from sqlalchemy import select

from app import db
from app.models import AuditLog, MemberTier, Notification
from factories import (
    make_batch,
    make_certificate,
    make_enterprise,
    make_enterprise_user,
    make_membership_application,
    make_staff,
    make_user,
)


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "text/csv"
    body = response.get_data()
    assert body.startswith("\ufeff".encode()), "UTF-8 BOM so that Excel opens it"
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def last_export() -> AuditLog:
    return db.session.scalar(select(AuditLog).where(AuditLog.action == "export").order_by(AuditLog.id.desc()))


def test_queue_export_is_audited_with_its_filters_and_row_count(app, client, auth):
    reviewer = make_user("Reviewer")
    auth.login(reviewer.username)
    for n in range(3):
        make_membership_application(make_enterprise(name=f"审计导出{n}号公司"), status="submitted")
    rows = csv_rows(client.get("/backoffice/review/membership/csv?enterprise=审计导出&page=2"))
    assert len(rows) == 4
    entry = last_export()
    assert entry.actor_id == reviewer.id and entry.object_type == "CsvExport"
    after = json.loads(entry.after)
    assert after["rows"] == 3 and after["list"] == "入会申请"
    assert after["filters"] == {"企业名称或统一社会信用代码": "审计导出"}  # in words; the page is not a filter
    shown = client.get(f"/backoffice/audit/show/{entry.id}")
    assert shown.status_code in (302, 403)  # 审计日志 is AssociationAdmin's
    auth.logout()
    auth.login(make_user("AssociationAdmin").username)
    page = client.get(f"/backoffice/audit/show/{entry.id}").get_data(as_text=True)
    assert "企业名称或统一社会信用代码：审计导出" in page and "{" not in page.split("筛选条件", 1)[1].split("</tr>", 1)[0]


def test_every_export_records_its_filters_in_words(app, client, auth):
    auth.login(make_user("AssociationAdmin").username)
    cases = [
        (
            "/backoffice/review/membership/csv?status=waiting&province=34&submitted=long&from=2026-01-01",
            {"状态": "等待协会处理", "省份": "安徽省", "提交时间": "等待超过5天", "提交日期从": "2026-01-01"},
        ),
        ("/backoffice/certificates/csv?kind=all&status=valid&expiring=30", {"证书类型": "全部证书", "状态": "有效", "到期天数不超过": "30 天"}),
        ("/backoffice/notifications/csv?channel=sms&result=failed", {"渠道": "短信", "结果": "发送失败"}),
        ("/backoffice/staff/csv?q=张&flagged=1", {"查询": "张", "多单位任职": "是"}),
        ("/backoffice/enterprises/csv?_flt_2_name=安防", {"企业名称（包含）": "安防"}),
    ]
    for url, expected in cases:
        csv_rows(client.get(url))
        assert json.loads(last_export().after)["filters"] == expected, url


def test_queue_export_writes_times_in_shanghai_and_labels(app, client, auth):
    auth.login(make_user("Reviewer").username)
    submitted = dt.datetime(2026, 3, 1, 17, 30)  # stored in UTC: 01:30 the next day in Shanghai
    make_membership_application(make_enterprise(name="时区公司"), status="received", submitted_on=submitted)
    rows = csv_rows(client.get("/backoffice/review/membership/csv"))
    row = next(r for r in rows[1:] if r[1] == "时区公司")
    assert row[4] == "2026-03-02 01:30"
    assert row[6] == "已接收"


def test_certificates_export_honours_filters_and_labels(app, client, auth):
    auth.login(make_user("Reviewer").username)
    hefei = make_enterprise(name="证书导出合肥公司")
    nanjing = make_enterprise(name="证书导出南京公司", region_code="320102")
    make_certificate(hefei)
    make_certificate(nanjing)
    rows = csv_rows(client.get("/backoffice/certificates/csv?province=32"))
    assert rows[0][:3] == ["证书编号", "证书", "持证单位"] or rows[0][0] == "证书编号"
    assert [row[2] for row in rows[1:]] == ["证书导出南京公司"]
    assert rows[1][1] == "资质证书" and rows[1][-1] == "有效"
    assert "江苏" in rows[1][4]


def test_staff_and_enrolment_exports(app, client, auth):
    auth.login(make_user("Reviewer").username)
    enterprise = make_enterprise(name="人员导出公司")
    first = make_staff(enterprise, 1, name="张导出")
    make_staff(enterprise, 2, name="李其他")
    rows = csv_rows(client.get("/backoffice/staff/csv?q=张导出"))
    assert rows[0][0] == "姓名" and [row[0] for row in rows[1:]] == ["张导出"]
    assert rows[1][2] == first.id_number and rows[1][3] == "人员导出公司"

    from app.models import Enrollment

    batch = make_batch(name="导出批次")
    db.session.add(
        Enrollment(batch_id=batch.id, staff_id=first.id, enterprise_id=enterprise.id, id_number=first.id_number)
    )
    db.session.commit()
    rows = csv_rows(client.get(f"/backoffice/training/{batch.id}/csv"))
    assert rows[0][0] == "姓名" and rows[1][0] == "张导出" and rows[1][4] == "已报名"
    assert json.loads(last_export().after)["rows"] == 1


def test_members_export(app, client, auth):
    from app.memberships import grant

    auth.login(make_user("Reviewer").username)
    enterprise = make_enterprise(name="=会员导出公司")
    tier = db.session.scalar(select(MemberTier).where(MemberTier.name == "会员单位"))
    membership = grant(enterprise.id, tier.id, 1000)
    db.session.commit()
    page = client.get("/backoffice/members/list/").get_data(as_text=True)
    assert "导出 CSV" in page and "会员导出公司" in page
    rows = csv_rows(client.get("/backoffice/members/csv"))
    assert rows[0][:4] == ["会员编号", "企业", "统一社会信用代码", "会员级别"]
    row = next(r for r in rows[1:] if r[0] == membership.member_number)
    assert row[1] == "'=会员导出公司" and row[2] == enterprise.credit_code and row[3] == "会员单位"
    assert row[6] == "有效"


def test_notifications_list_filters_and_exports(app, client, auth):
    auth.login(make_user("Reviewer").username)
    enterprise = make_enterprise(name="消息导出公司")
    other = make_enterprise(name="别家公司")
    for target, channel, result in ((enterprise, "sms", "failed"), (enterprise, "inapp", "sent"), (other, "sms", "sent")):
        db.session.add(
            Notification(
                enterprise_id=target.id,
                channel=channel,
                recipient="13800000000",
                subject="+审核结果",
                body="您的申请已受理",
                result=result,
            )
        )
    db.session.commit()
    page = client.get("/backoffice/notifications/?channel=sms&enterprise=消息导出").get_data(as_text=True)
    assert "消息导出公司" in page and "别家公司" not in page and "发送失败" in page
    rows = csv_rows(client.get("/backoffice/notifications/csv?channel=sms&enterprise=消息导出"))
    assert len(rows) == 2
    header, row = rows
    assert header[1] == "企业" and row[1] == "消息导出公司"
    assert row[header.index("渠道")] == "短信" and row[header.index("结果")] == "发送失败"
    assert row[header.index("标题")] == "'+审核结果"


@pytest.mark.parametrize(
    "url, header",
    [
        ("/backoffice/enterprises/csv?_flt_2_name=导出", "企业名称"),
        ("/backoffice/audit/csv", "时间"),
    ],
)
def test_fab_list_exports(app, client, auth, url, header):
    auth.login(make_user("AssociationAdmin").username)
    make_enterprise(name="导出企业甲")
    csv_rows(client.get("/backoffice/enterprises/csv"))  # leaves an audit row
    rows = csv_rows(client.get(url))
    assert rows[0][0] == header
    assert len(rows) >= 2
    if "audit" in url:
        assert rows[1][2] == "导出 CSV" and rows[1][3] == "列表"


def test_users_export_for_admin(app, client, auth):
    admin = make_user("Admin")
    auth.login(admin.username)
    page = client.get("/users/list/").get_data(as_text=True)
    assert "导出 CSV" in page
    rows = csv_rows(client.get(f"/users/csv?_flt_0_username={admin.username}"))
    assert rows[0][2] == "用户名" and [row[2] for row in rows[1:]] == [admin.username]
    roles = rows[1][rows[0].index("角色")]
    assert roles and "Admin" not in roles  # the role's Chinese name
    assert "scrypt" not in "".join(rows[1])


@pytest.mark.parametrize(
    "url",
    [
        "/backoffice/members/csv",
        "/backoffice/notifications/csv",
        "/backoffice/staff/csv",
        "/backoffice/certificates/csv",
        "/backoffice/enterprises/csv",
        "/users/csv",
    ],
)
def test_enterprises_reach_no_export(app, client, auth, url):
    auth.login(make_enterprise_user().username)
    assert client.get(url).status_code in (302, 403, 404)

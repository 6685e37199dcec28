"""F15 back office: review queues with filters and bulk actions, audit log, configuration screens."""

import datetime as dt

import pytest
from sqlalchemy import select
from test_query_counts import queries_for

from app import db
from app.models import Application, AuditLog, MemberTier, Setting
from conftest import csrf_token
from factories import make_enterprise, make_enterprise_user, make_membership_application, make_user


def reviewer_client(client, auth, role="Reviewer"):
    user = make_user(role)
    auth.login(user.username)
    return user


def test_queue_filters_and_waiting_order(app, client, auth):
    reviewer_client(client, auth)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    old = make_membership_application(
        make_enterprise(name="合肥老申请安防公司"), status="submitted", submitted_on=now - dt.timedelta(days=9)
    )
    new = make_membership_application(
        make_enterprise(name="南京新申请安防公司", region_code="320102"), status="received", submitted_on=now
    )
    done = make_membership_application(make_enterprise(name="已办结安防公司"), status="completed", submitted_on=now)
    page = client.get("/backoffice/review/membership/").get_data(as_text=True)
    assert page.index("合肥老申请安防公司") < page.index("南京新申请安防公司")  # longest waiting first
    assert "已办结安防公司" not in page  # open ones by default
    assert "9天" in page
    page = client.get("/backoffice/review/membership/?status=completed").get_data(as_text=True)
    assert "已办结安防公司" in page and "合肥老申请安防公司" not in page
    page = client.get("/backoffice/review/membership/?enterprise=南京").get_data(as_text=True)
    assert "南京新申请安防公司" in page and "合肥老申请安防公司" not in page
    page = client.get("/backoffice/review/membership/?province=32").get_data(as_text=True)
    assert "南京新申请安防公司" in page and "合肥老申请安防公司" not in page
    since = (now - dt.timedelta(days=2)).date().isoformat()
    page = client.get(f"/backoffice/review/membership/?from={since}").get_data(as_text=True)
    assert "南京新申请安防公司" in page and "合肥老申请安防公司" not in page
    page = client.get("/backoffice/review/membership/?status=all").get_data(as_text=True)
    assert all(f"<td>{record.id}</td>" in page for record in (old, new, done))
    overview = client.get("/backoffice/review/").get_data(as_text=True)
    assert "1 条申请已等待超过5天" in overview


def test_single_review_action_with_reason(app, client, auth):
    reviewer_client(client, auth)
    record = make_membership_application(make_enterprise(), status="submitted")
    page = client.get(f"/backoffice/review/membership/{record.id}").get_data(as_text=True)
    for label in ("接收", "通过", "退回", "不予通过", "审核进度"):
        assert label in page
    token = csrf_token(client, "/backoffice/review/")
    response = client.post(
        f"/backoffice/review/membership/{record.id}/act",
        data={"transition": "return", "comment": "", "csrf_token": token},
    )
    assert "请填写原因" in client.get(response.headers["Location"]).get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Application, record.id).status == "submitted"
    client.post(
        f"/backoffice/review/membership/{record.id}/act",
        data={"transition": "return", "comment": "资料不全", "csrf_token": token},
    )
    db.session.expire_all()
    assert db.session.get(Application, record.id).status == "returned"
    assert "资料不全" in client.get(f"/backoffice/review/membership/{record.id}").get_data(as_text=True)


def test_bulk_action_rechecks_each_record(app, client, auth):
    reviewer_client(client, auth)
    first = make_membership_application(make_enterprise(), status="submitted")
    second = make_membership_application(make_enterprise(), status="received")
    finished = make_membership_application(make_enterprise(name="早已入会安防公司"), status="completed")
    token = csrf_token(client, "/backoffice/review/")
    response = client.post(
        "/backoffice/review/membership/bulk",
        data={"ids": [first.id, second.id, finished.id], "transition": "approve", "comment": "", "csrf_token": token},
    )
    page = client.get(response.headers["Location"] + "?status=all").get_data(as_text=True)
    assert "已处理 2 条申请" in page and "早已入会安防公司" in page and "不能执行“通过”" in page
    db.session.expire_all()
    assert [db.session.get(Application, r.id).status for r in (first, second, finished)] == [
        "approved",
        "approved",
        "completed",
    ]


def test_enterprise_cannot_act_through_the_back_office(app, client, auth):
    user = make_enterprise_user()
    record = make_membership_application(user.enterprise, status="submitted")
    auth.login(user.username)
    token = csrf_token(client, "/membership/")
    response = client.post(
        f"/backoffice/review/membership/{record.id}/act", data={"transition": "approve", "csrf_token": token}
    )
    assert response.status_code in (302, 403)
    db.session.expire_all()
    assert db.session.get(Application, record.id).status == "submitted"


def test_audit_log_shows_every_step(app, client, auth):
    reviewer = reviewer_client(client, auth, role="AssociationAdmin")
    record = make_membership_application(make_enterprise(), status="submitted")
    token = csrf_token(client, "/backoffice/review/")
    client.post(f"/backoffice/review/membership/{record.id}/act", data={"transition": "receive", "csrf_token": token})
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "transition"))
    assert entry.actor_id == reviewer.id and entry.ip == "127.0.0.1" and entry.request_id
    page = client.get("/backoffice/audit/list/").get_data(as_text=True)
    assert "状态变更" in page and "入会申请" in page and "MembershipApplication" not in page


def test_reviewer_cannot_change_configuration(app, client, auth):
    reviewer_client(client, auth)
    assert client.get("/backoffice/member-tiers/list/").status_code in (302, 403)
    assert client.get("/backoffice/audit/list/").status_code in (302, 403)


def test_member_tier_fee_change_is_audited(app, client, auth):
    reviewer_client(client, auth, role="AssociationAdmin")
    tier = db.session.scalar(select(MemberTier).where(MemberTier.name == "会员单位"))
    token = csrf_token(client, "/backoffice/member-tiers/list/")
    response = client.post(
        f"/backoffice/member-tiers/edit/{tier.id}",
        data={"name": "会员单位", "annual_fee": "2500", "sort_order": "1", "active": "y", "csrf_token": token},
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert float(db.session.get(MemberTier, tier.id).annual_fee) == 2500
    entry = db.session.scalar(select(AuditLog).where(AuditLog.object_type == "MemberTier"))
    assert entry.action == "update" and '"annual_fee": "2000.00"' in entry.before and "2500" in entry.after


def test_number_pattern_must_contain_the_sequence(app, client, auth):
    reviewer_client(client, auth, role="AssociationAdmin")
    token = csrf_token(client, "/backoffice/settings/list/")
    url = "/backoffice/settings/edit/number_pattern.membership"
    response = client.post(url, data={"value": "皖安协会[{year}]号", "csrf_token": token}, follow_redirects=True)
    assert "须包含 {seq}" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Setting, "number_pattern.membership").value == "皖安协会[{year}]第{seq:04d}号"
    client.post(url, data={"value": "皖会[{year}]{seq:05d}", "csrf_token": token})
    db.session.expire_all()
    assert db.session.get(Setting, "number_pattern.membership").value == "皖会[{year}]{seq:05d}"


@pytest.mark.parametrize(
    ("key", "bad", "message", "good"),
    [
        ("jobs.reminder_days", "90天", "用逗号分隔的天数", "60，15,3"),
        ("jobs.reminders_at", "25:00", "时:分", "9:30"),
        ("jobs.sms_retry_attempts", "0", "不小于 1 的整数", "5"),
    ],
)
def test_schedule_settings_are_checked_before_they_are_saved(app, client, auth, key, bad, message, good):
    reviewer_client(client, auth, role="AssociationAdmin")
    token = csrf_token(client, "/backoffice/settings/list/")
    url = f"/backoffice/settings/edit/{key}"
    before = db.session.get(Setting, key).value
    response = client.post(url, data={"value": bad, "csrf_token": token}, follow_redirects=True)
    assert message in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Setting, key).value == before
    client.post(url, data={"value": good, "csrf_token": token})
    db.session.expire_all()
    assert db.session.get(Setting, key).value == good


def test_workflow_page_shows_the_diagram(app, client, auth):
    reviewer_client(client, auth, role="AssociationAdmin")
    page = client.get("/backoffice/workflows/").get_data(as_text=True)
    assert "stateDiagram-v2" in page and "确认缴费" in page


def test_queue_query_count_is_flat(app, client, auth):
    reviewer_client(client, auth)
    for _ in range(3):
        make_membership_application(make_enterprise(), status="submitted")
    few = queries_for(client, "/backoffice/review/membership/")
    for _ in range(25):
        make_membership_application(make_enterprise(), status="submitted")
    assert queries_for(client, "/backoffice/review/membership/") == few


def test_admin_user_management_is_audited_without_password(app, client, auth):
    admin = make_user("Admin")
    auth.login(admin.username)
    token = csrf_token(client, "/users/list/")
    reviewer_role = app.appbuilder.sm.find_role("Reviewer")
    response = client.post(
        "/users/add",
        data={
            "first_name": "静",
            "last_name": "张",
            "username": "zhangjing2",
            "active": "y",
            "email": "zj2@example.com",
            "roles": [str(reviewer_role.id)],
            "password": "Review2026ok",
            "conf_password": "Review2026ok",
            "csrf_token": token,
        },
    )
    assert response.status_code == 302
    entry = db.session.scalar(select(AuditLog).where(AuditLog.object_type == "PlatformUser"))
    assert entry.action == "create" and "zhangjing2" in entry.after and "password" not in entry.after
    assert entry.actor_id == admin.id


def test_user_edit_audit_never_contains_the_password_hash(app, client, auth):
    admin = make_user("Admin")
    target = make_user("Reviewer", username="edit_me")
    auth.login(admin.username)
    token = csrf_token(client, "/users/list/")
    reviewer_role = app.appbuilder.sm.find_role("Reviewer")
    response = client.post(
        f"/users/edit/{target.id}",
        data={
            "first_name": "改",
            "last_name": "名",
            "username": "edit_me",
            "active": "y",
            "email": "edit_me@example.com",
            "roles": [str(reviewer_role.id)],
            "csrf_token": token,
        },
    )
    assert response.status_code == 302
    entry = db.session.scalar(
        select(AuditLog).where(AuditLog.object_type == "PlatformUser", AuditLog.action == "update")
    )
    assert entry is not None and "改" in entry.after
    assert "scrypt" not in (entry.before or "") + entry.after and '"password"' not in entry.after


def csv_rows(response) -> list[list[str]]:
    import csv as csv_module
    import io

    body = response.get_data()
    assert body.startswith("\ufeff".encode()), "UTF-8 BOM so that Excel opens it"
    return list(csv_module.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_queue_exports_csv_with_its_filters(app, client, auth):
    reviewer_client(client, auth)
    make_membership_application(make_enterprise(name="=HYPERLINK(\"http://x\")安防"), status="submitted")
    make_membership_application(make_enterprise(name="南京导出安防公司", region_code="320102"), status="received")
    make_membership_application(make_enterprise(name="已办结导出公司"), status="completed")
    page = client.get("/backoffice/review/membership/?province=32").get_data(as_text=True)
    assert "/backoffice/review/membership/csv?province=32" in page  # 导出 CSV keeps the filters
    response = client.get("/backoffice/review/membership/csv?province=32")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = csv_rows(response)
    assert rows[0] == ["编号", "企业", "统一社会信用代码", "地区", "提交时间", "等待时长", "状态"]
    assert [row[1] for row in rows[1:]] == ["南京导出安防公司"]
    assert rows[1][6] == "已接收"  # labels, not codes
    rows = csv_rows(client.get("/backoffice/review/membership/csv?status=all"))
    names = [row[1] for row in rows[1:]]
    assert len(names) == 3 and "'=HYPERLINK(\"http://x\")安防" in names  # formula neutralised


def test_queue_csv_is_not_for_enterprises(app, client, auth):
    user = make_enterprise_user()
    auth.login(user.username)
    assert client.get("/backoffice/review/membership/csv").status_code in (302, 403)


def test_fab_lists_export_csv_with_their_search(app, client, auth):
    reviewer_client(client, auth)
    make_enterprise(name="合肥导出甲公司")
    make_enterprise(name="芜湖导出乙公司")
    page = client.get("/backoffice/enterprises/list/").get_data(as_text=True)
    assert "导出 CSV" in page
    response = client.get("/backoffice/enterprises/csv?_flt_2_name=合肥")
    rows = csv_rows(response)
    assert rows[0][0] == "企业名称"
    assert [row[0] for row in rows[1:]] == ["合肥导出甲公司"]


def test_a_member_tier_can_be_taken_out_of_use(app, client, auth):
    """The 在用 box can be unticked (FAB's InputRequired on a boolean column refused every unticked box)."""
    admin = make_user("AssociationAdmin")
    auth.login(admin.username)
    tier = db.session.scalar(select(MemberTier).where(MemberTier.name == "副会长单位"))
    token = csrf_token(client, f"/backoffice/member-tiers/edit/{tier.id}")
    response = client.post(
        f"/backoffice/member-tiers/edit/{tier.id}",
        data={"csrf_token": token, "name": tier.name, "annual_fee": "20000", "sort_order": "4"},
    )
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    db.session.expire_all()
    assert db.session.get(MemberTier, tier.id).active is False


def test_saving_a_back_office_form_returns_to_its_list(app, client, auth):
    """编辑 then 保存 goes back to the list the form was opened from (with its filters), not to 工作台."""
    admin = make_user("AssociationAdmin")
    auth.login(admin.username)
    tier = db.session.scalar(select(MemberTier).where(MemberTier.name == "副会长单位"))
    client.get("/backoffice/member-tiers/list/?_flt_0_name=副会长")
    token = csrf_token(client, f"/backoffice/member-tiers/edit/{tier.id}")
    response = client.post(
        f"/backoffice/member-tiers/edit/{tier.id}",
        data={"csrf_token": token, "name": tier.name, "annual_fee": "20000", "sort_order": "4", "active": "y"},
    )
    assert response.status_code == 302
    assert "/backoffice/member-tiers/list/" in response.headers["Location"]
    # opened straight from a link (no list visited first): still back to the list
    token = csrf_token(client, f"/backoffice/member-tiers/edit/{tier.id}")
    response = client.post(
        f"/backoffice/member-tiers/edit/{tier.id}",
        data={"csrf_token": token, "name": tier.name, "annual_fee": "20000", "sort_order": "4", "active": "y"},
    )
    assert "/backoffice/member-tiers/list/" in response.headers["Location"]


def test_queue_page_size_and_bulk_bar(app, client, auth):
    """每页 25/50/100; the bulk bar's buttons carry the states they accept for the script (served from
    our static files), and the server still refuses a row in a state the action does not take."""
    reviewer_client(client, auth)
    submitted = [make_membership_application(make_enterprise(), status="submitted") for _ in range(26)]
    page = client.get("/backoffice/review/membership/?size=25").get_data(as_text=True)
    assert page.count('name="ids"') == 25
    assert "size=50" in page and "size=100" in page and "每页" in page
    assert "page=2" in page and "size=25" in page  # the next page keeps the size
    assert client.get("/backoffice/review/membership/?size=7").get_data(as_text=True).count('name="ids"') == 26
    assert 'src="/static/js/bulk_bar.js"' in page and "<script>" not in page
    assert 'data-status="submitted"' in page and 'data-sources="' in page
    token = csrf_token(client, "/backoffice/review/membership/")
    completed = make_membership_application(make_enterprise(), status="completed")
    response = client.post(
        "/backoffice/review/membership/bulk",
        data={"csrf_token": token, "transition": "receive", "ids": [str(submitted[0].id), str(completed.id)]},
        follow_redirects=True,
    )
    db.session.expire_all()
    assert db.session.get(Application, submitted[0].id).status == "received"
    assert db.session.get(Application, completed.id).status == "completed"
    assert f"#{completed.id}" in response.get_data(as_text=True)

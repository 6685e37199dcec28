"""Scale (#10): the enterprise's staff list pages, searches and signs up the ticked people in one form;
a request loads the user, its roles and the roles' permissions without four separate queries."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import func, select
from test_query_counts import count_queries

from app import db
from app.models import Enrollment, TechnicalStaff
from conftest import csrf_token
from factories import (
    id_number,
    make_batch,
    make_change_request,
    make_enterprise,
    make_enterprise_user,
    make_membership_application,
    make_staff_rows,
    make_user,
)

STAFF_ROW = re.compile(r'name="staff_ids" value="(\d+)"')


def test_staff_list_pages_50_at_a_time_newest_first(app, client, auth):
    owner = make_enterprise_user()
    ids = make_staff_rows(owner.enterprise, 60)
    make_batch()
    auth.login(owner.username)
    first = client.get("/training/").get_data(as_text=True)
    shown = [int(i) for i in STAFF_ROW.findall(first)]
    assert shown == ids[::-1][:50]
    assert "共 60 条" in first and "下一页" in first and "?page=2" in first
    second = client.get("/training/?page=2").get_data(as_text=True)
    assert [int(i) for i in STAFF_ROW.findall(second)] == ids[::-1][50:]
    assert "上一页" in second and "下一页" not in second
    # One form for the whole page: no per-person form or sign-up address.
    assert first.count('<form method="post" class="staff-signup-form"') == 1 and "/signup/" not in first


def test_staff_list_search_contains_name_id_number_or_mobile(app, client, auth):
    owner = make_enterprise_user()
    ids = make_staff_rows(owner.enterprise, 30)
    other = make_enterprise_user()
    make_staff_rows(other.enterprise, 5)
    make_batch()
    person = db.session.get(TechnicalStaff, ids[7])
    auth.login(owner.username)
    for needle in (person.name, person.id_number[-6:], person.mobile[3:]):
        page = client.get("/training/", query_string={"q": needle}).get_data(as_text=True)
        assert [int(i) for i in STAFF_ROW.findall(page)] == [person.id], needle
    page = client.get("/training/", query_string={"q": "批量技术员"}).get_data(as_text=True)
    assert len(STAFF_ROW.findall(page)) == 30 and "共 30 条" in page  # the other enterprise's five are not counted
    assert "未找到技术人员" in client.get("/training/", query_string={"q": "无此人"}).get_data(as_text=True)


def test_ticked_people_sign_up_in_one_post_and_others_staff_are_refused(app, client, auth):
    owner = make_enterprise_user()
    ids = make_staff_rows(owner.enterprise, 5)
    stranger = make_staff_rows(make_enterprise_user().enterprise, 1, start=2000)[0]
    batch = make_batch()
    auth.login(owner.username)
    client.get(f"/training/batch/{batch.id}")  # 报名须知 read
    token = csrf_token(client, "/training/")
    refused = client.post(
        f"/training/batch/{batch.id}/signup", data={"staff_ids": [ids[0], stranger], "csrf_token": token}
    )
    assert refused.status_code == 404
    assert db.session.scalar(select(func.count()).select_from(Enrollment)) == 0
    response = client.post(
        f"/training/batch/{batch.id}/signup",
        data={"staff_ids": ids[:3], "q": "批量", "csrf_token": token},
        follow_redirects=True,
    )
    page = response.get_data(as_text=True)
    assert "已为 3 人报名" in page and response.request.args.get("q") == "批量"
    signed = set(db.session.scalars(select(Enrollment.staff_id)))
    assert signed == set(ids[:3])
    # Those three have no box any more (the only open batch); the other two still do.
    assert {int(i) for i in STAFF_ROW.findall(page)} == set(ids[3:])


def security_statements(statements: list[str]) -> list[str]:
    tables = ("ab_user", "ab_role", "ab_group", "ab_permission", "ab_view_menu")
    return [s for s in statements if any(f"FROM {t}" in s or f"JOIN {t}" in s for t in tables)]


def test_a_request_loads_user_roles_and_permissions_in_one_query(app, client, auth):
    reviewer = make_user("Reviewer")
    auth.login(reviewer.username)
    client.get("/backoffice/review/")
    with count_queries() as statements:
        assert client.get("/backoffice/review/").status_code == 200
    loads = security_statements(statements)
    assert len(loads) == 1 and "ab_role" in loads[0] and "ab_group" in loads[0], loads


def test_a_changed_role_takes_effect_on_the_next_request(app, client, auth):
    sm = app.appbuilder.sm
    reviewer = make_user("Reviewer")
    auth.login(reviewer.username)
    assert client.get("/backoffice/review/").status_code == 200
    role = sm.find_role("Reviewer")
    granted = [
        pv for pv in role.permissions if pv.view_menu.name == "ReviewQueue" and pv.permission.name == "can_overview"
    ]
    assert granted
    role.permissions = [pv for pv in role.permissions if pv not in granted]
    db.session.commit()
    try:
        assert client.get("/backoffice/review/").status_code in (302, 403)
    finally:
        role.permissions = [*role.permissions, *granted]
        db.session.commit()
    assert client.get("/backoffice/review/").status_code == 200


def test_the_queue_index_predicate_covers_every_workflows_open_states(app):
    """The review queue ANDs the partial index's predicate: a state missing from it would hide rows."""
    from app.models import QUEUE_OPEN_STATES
    from app.workflows import REGISTRY

    for workflow in REGISTRY.values():
        queued = {s for s in workflow.open_states if s != workflow.initial}
        assert queued <= set(QUEUE_OPEN_STATES), (workflow.kind, queued - set(QUEUE_OPEN_STATES))
        # 待协会处理 (status=waiting) ANDs the same predicate
        assert set(workflow.waiting_states) <= set(QUEUE_OPEN_STATES), workflow.kind


QUEUE_ROW = re.compile(r'name="ids" value="(\d+)"')
STAFF_LINK = re.compile(r'/backoffice/staff/(\d+)"')


def test_queue_pages_by_key_and_counts_a_broad_search_up_to_a_cap(app, client, auth, monkeypatch):
    from app.views import review

    auth.login(make_user("Reviewer").username)
    start = dt.datetime(2026, 1, 1)
    records = [
        make_membership_application(
            make_enterprise(name=f"{'安泰' if i % 3 else '其他'}{i}号安防公司"),
            status="submitted",
            submitted_on=start + dt.timedelta(hours=i),
        )
        for i in range(57)
    ]

    def shown(url):
        page = client.get(url).get_data(as_text=True)
        return [int(i) for i in QUEUE_ROW.findall(page)], page

    # deep pages: the keys of the page first, then those rows, in the waiting order
    assert shown("/backoffice/review/membership/?size=25&page=3")[0] == [r.id for r in records[50:]]
    ids, page = shown("/backoffice/review/membership/?size=25&page=2")
    assert ids == [r.id for r in records[25:50]] and "共 57 条" in page

    # a name search counts up to the cap (never less than the pages up to this one): "超过 25 条"
    monkeypatch.setattr(review, "SEARCH_COUNT_CAP", 10)
    matching = [r.id for i, r in enumerate(records) if i % 3]
    ids, page = shown("/backoffice/review/membership/?size=25&enterprise=安泰")
    assert ids == matching[:25] and "超过 25 条" in page and "下一页" in page
    ids, page = shown("/backoffice/review/membership/?size=25&enterprise=安泰&page=2")
    assert ids == matching[25:] and "共 38 条" in page and "下一页" not in page

    # credit codes found whatever the case of their letters; % and _ are plain characters
    code = records[4].enterprise.credit_code
    assert shown(f"/backoffice/review/membership/?enterprise={code[8:].lower()}")[0] == [records[4].id]
    assert shown("/backoffice/review/membership/?enterprise=%25")[0] == []
    assert shown("/backoffice/review/membership/?enterprise=_")[0] == []


def test_back_office_staff_search_by_name_id_number_or_enterprise(app, client, auth):
    first = make_enterprise(name="安泰智能安防有限公司")
    second = make_enterprise(name="东方安防工程公司")
    first_ids = make_staff_rows(first, 3, start=2000)
    second_ids = make_staff_rows(second, 3, start=3000)
    with_x = next(number for number in (id_number(seq=seq) for seq in range(1000)) if number.endswith("X"))
    person = db.session.get(TechnicalStaff, second_ids[0])
    person.id_number, person.name = with_x, "欧阳张伟明"
    db.session.commit()
    auth.login(make_user("Reviewer").username)

    def found(q):
        page = client.get("/backoffice/staff/", query_string={"q": q}).get_data(as_text=True)
        return sorted(int(i) for i in STAFF_LINK.findall(page))

    assert found("张伟") == [person.id]  # two characters: read in order (no trigram to look up)
    assert found("张伟明") == [person.id]  # three or more: the trigram indexes on PostgreSQL
    assert found(with_x[-6:].lower()) == [person.id]  # an ID number's X in lower case
    assert found("安泰智能") == first_ids  # everyone of the enterprises whose name matches
    assert found("技术员2001") == [first_ids[1]]
    assert found("%") == [] and found("_") == []


def test_the_menu_is_kept_per_roles_and_follows_a_role_change(app, client, auth):
    sm = app.appbuilder.sm
    reviewer = make_user("Reviewer")
    with app.test_request_context():
        labels = {
            child.name: str(child.label) for top in app.appbuilder.menu.get_list() for child in (top.childs or [top])
        }
    auth.login(reviewer.username)
    page = client.get("/backoffice/review/").get_data(as_text=True)
    role = sm.find_role("Reviewer")
    granted = [pv for pv in role.permissions if pv.permission.name == "menu_access" and pv.view_menu.name == "StaffSearchMenu"]
    label = labels["StaffSearchMenu"]
    assert granted and f"{label}</a>" in page
    role.permissions = [pv for pv in role.permissions if pv not in granted]
    db.session.commit()
    try:
        assert f"{label}</a>" not in client.get("/backoffice/review/").get_data(as_text=True)
    finally:
        role.permissions = [*role.permissions, *granted]
        db.session.commit()
    assert f"{label}</a>" in client.get("/backoffice/review/").get_data(as_text=True)

    # the reviewer's menu, now kept, is not what an enterprise sees
    auth.logout()
    owner = make_enterprise_user()
    auth.login(owner.username)
    portal = client.get("/portal/").get_data(as_text=True)
    assert f"{labels['ReviewOverview']}</a>" in page and f"{labels['ReviewOverview']}</a>" not in portal


def test_own_applications_are_paged_newest_first_without_a_count(app, client, auth):
    owner = make_enterprise_user()
    records = [make_membership_application(owner.enterprise, status="withdrawn") for _ in range(27)]
    auth.login(owner.username)
    first = client.get("/membership/").get_data(as_text=True)
    shown = [int(i) for i in re.findall(r"<td>(\d+)</td>", first)]
    assert shown == [r.id for r in records[::-1][:25]]
    assert "下一页" in first and "上一页" not in first and "共 27 条" not in first
    second = client.get("/membership/?page=2").get_data(as_text=True)
    assert [int(i) for i in re.findall(r"<td>(\d+)</td>", second)] == [r.id for r in records[1::-1]]
    assert "上一页" in second and "下一页" not in second
    other = make_enterprise_user()
    auth.logout()
    auth.login(other.username)
    assert not re.findall(r"<td>(\d+)</td>", client.get("/membership/?page=2").get_data(as_text=True))


def test_a_setting_written_during_a_request_is_read_afresh(app):
    from app.models import Setting
    from app.settings import get_setting

    with app.test_request_context():
        assert get_setting("review.long_wait_days") == "5"
        setting = db.session.scalar(select(Setting).where(Setting.key == "review.long_wait_days"))
        setting.value = "9"
        db.session.flush()
        assert get_setting("review.long_wait_days") == "9"
        db.session.rollback()
        assert get_setting("review.long_wait_days") == "5"


def test_messages_are_paged_and_link_to_each_applications_own_page(app, client, auth):
    from app.models import Notification

    owner = make_enterprise_user()
    membership = make_membership_application(owner.enterprise)
    change = make_change_request(owner)
    for index in range(30):
        record = (membership, change, None)[index % 3]
        db.session.add(
            Notification(
                enterprise_id=owner.enterprise_id,
                user_id=owner.id,
                application_id=record.id if record else None,
                channel="inapp",
                subject=f"消息{index:02d}",
                body="正文",
                result="sent",
            )
        )
    db.session.commit()
    auth.login(owner.username)
    first = client.get("/messages/").get_data(as_text=True)
    assert "消息29" in first and "消息05" in first and "消息04" not in first and "下一页" in first
    assert f"/membership/{membership.id}" in first and f"/change/{change.id}" in first
    # what the first page showed is read; the older five stay unread until their page is opened
    unread = select(func.count()).select_from(Notification).where(Notification.read_on.is_(None))
    assert db.session.scalar(unread) == 5
    second = client.get("/messages/?page=2").get_data(as_text=True)
    assert "消息04" in second and "消息00" in second and "上一页" in second and db.session.scalar(unread) == 0


def test_admin_sees_the_back_office_menu_only_and_enterprises_their_portal(app, client, auth):
    auth.login(make_user("Admin").username)
    page = client.get("/backoffice/").get_data(as_text=True)
    assert "审核总览</a>" in page and "入会申请</a>" not in page and "外省企业备案</a>" not in page
    auth.logout()
    auth.login(make_enterprise_user().username)
    portal = client.get("/portal/").get_data(as_text=True)
    assert "入会申请</a>" in portal and "审核总览</a>" not in portal


def test_every_contains_search_ignores_the_case_of_an_x_and_takes_percent_literally(app, client, auth):
    owner = make_enterprise_user()
    ids = make_staff_rows(owner.enterprise, 3, start=4000)
    make_batch()  # an open batch: each person's row has its sign-up checkbox
    with_x = next(number for number in (id_number(seq=seq) for seq in range(1000)) if number.endswith("X"))
    person = db.session.get(TechnicalStaff, ids[1])
    person.id_number = with_x
    db.session.commit()
    auth.login(owner.username)
    for needle, expected in ((with_x[-5:].lower(), [person.id]), ("%", []), ("_", [])):
        page = client.get("/training/", query_string={"q": needle}).get_data(as_text=True)
        assert [int(i) for i in STAFF_ROW.findall(page)] == expected, needle

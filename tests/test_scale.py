"""Scale (#10): the enterprise's staff list pages, searches and signs up the ticked people in one form;
a request loads the user, its roles and the roles' permissions without four separate queries."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from test_query_counts import count_queries

from app import db
from app.models import Enrollment, TechnicalStaff
from conftest import csrf_token
from factories import make_batch, make_enterprise_user, make_staff_rows, make_user

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

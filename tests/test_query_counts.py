"""List pages run a fixed number of queries, whatever the number of rows (no N+1).

Every list route is in LIST_PAGES with the role that reads it and a factory that adds rows of what
it lists; a GET route without arguments that is neither listed here nor in NOT_LISTS fails
`test_every_list_page_is_measured`, so a new list joins the suite.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from app import db
from app.staff import sign_up
from app.workflows import apply
from factories import (
    make_batch,
    make_enterprise,
    make_enterprise_user,
    make_membership_application,
    make_staff,
    make_user,
    person,
)


@contextmanager
def count_queries():
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def queries_for(client, url: str) -> int:
    client.get(url)  # warm-up: the first request of a session loads the user's roles once
    with count_queries() as statements:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
    return len(statements)


# --- what each list shows, grown by `n` rows ------------------------------------------------------


def grow_enterprises(ctx: dict, n: int) -> None:
    for _ in range(n):
        make_enterprise_user()


def grow_dashboard(ctx: dict, n: int) -> None:
    """Everything 工作台 counts: waiting applications, expiring certificates and memberships, batches."""
    import datetime as dt

    from app.memberships import grant
    from app.models import MemberTier
    from app.qualification import today
    from factories import make_certificate

    tier = db.session.query(MemberTier).first()
    for index in range(n):
        enterprise = make_enterprise(region_code=("320102", "330102", "340202")[index % 3])
        make_membership_application(enterprise, status=("submitted", "received")[index % 2])
        make_certificate(enterprise, valid_from=today() - dt.timedelta(days=1040))
        grant(enterprise.id, tier.id, tier.annual_fee)
        db.session.commit()
        batch = make_batch(name=f"第{index}期", capacity=1)
        ctx["seq"] = ctx.get("seq", 900) + 1
        sign_up(batch.id, enterprise.id, [(2, person(ctx["seq"]))])


def grow_applications(ctx: dict, n: int) -> None:
    for index in range(n):
        record = make_membership_application(make_enterprise(), status=("submitted", "received")[index % 2])
        apply(record, "return", ctx["reviewer"], comment="请补充")


def grow_staff(ctx: dict, n: int) -> None:
    owner = ctx["owner"]
    for _ in range(n):
        ctx["seq"] = ctx.get("seq", 100) + 1
        make_staff(owner.enterprise, ctx["seq"])


def grow_enrollments(ctx: dict, n: int) -> None:
    batch = ctx.setdefault("batch", make_batch(capacity=500))
    for _ in range(n):
        ctx["seq"] = ctx.get("seq", 300) + 1
        sign_up(batch.id, make_enterprise().id, [(2, person(ctx["seq"]))])


def grow_batches(ctx: dict, n: int) -> None:
    for index in range(n):
        batch = make_batch(name=f"第{index}期")
        ctx["seq"] = ctx.get("seq", 600) + 1
        sign_up(batch.id, ctx["owner"].enterprise_id, [(2, person(ctx["seq"]))])


def grow_messages(ctx: dict, n: int) -> None:
    owner = ctx["owner"]
    for _ in range(n):
        record = make_membership_application(owner.enterprise, status="submitted")
        apply(record, "return", ctx["reviewer"], comment="请补充")


def grow_own_applications(ctx: dict, n: int) -> None:
    owner = ctx["owner"]
    for _ in range(n):
        make_membership_application(owner.enterprise, status="withdrawn")


def grow_qualification_applications(ctx: dict, n: int) -> None:
    from factories import make_qualification_application

    for _ in range(n):
        user = make_enterprise_user()
        record = make_qualification_application(user, status="submitted", staff=1, materials=False, projects=1)
        apply(record, "receive", ctx["reviewer"])


def grow_own_qualification(ctx: dict, n: int) -> None:
    from factories import make_qualification_application

    for _ in range(n):
        make_qualification_application(ctx["owner"], status="withdrawn", staff=1, materials=False, projects=1)


def grow_certificates(ctx: dict, n: int) -> None:
    from factories import make_certificate

    for _ in range(n):
        make_certificate(make_enterprise())


def grow_own_certificates(ctx: dict, n: int) -> None:
    from factories import make_certificate

    for _ in range(n):
        make_certificate(ctx["owner"].enterprise)


def grow_own_filings(ctx: dict, n: int) -> None:
    from factories import make_filing_application

    for _ in range(n):
        make_filing_application(ctx["oop_owner"], status="withdrawn", projects=1)


def grow_members(ctx: dict, n: int) -> None:
    from sqlalchemy import select

    from app.memberships import grant
    from app.models import MemberTier

    tier = db.session.scalar(select(MemberTier).order_by(MemberTier.id))
    for _ in range(n):
        grant(make_enterprise().id, tier.id, 1000)
    db.session.commit()


def grow_notifications(ctx: dict, n: int) -> None:
    from app.models import Notification

    for _ in range(n):
        enterprise = make_enterprise()
        db.session.add(Notification(enterprise_id=enterprise.id, channel="sms", subject="审核结果", body="…", result="sent"))
    db.session.commit()


def grow_users(ctx: dict, n: int) -> None:
    for _ in range(n):
        make_user("Reviewer")


def grow_portal_home(ctx: dict, n: int) -> None:
    """Everything the portal home's cards count or list: applications, certificates, staff, messages."""
    from factories import make_certificate, make_qualification_application

    owner = ctx["owner"]
    for _ in range(n):
        ctx["seq"] = ctx.get("seq", 700) + 1
        make_staff(owner.enterprise, ctx["seq"])
        make_certificate(owner.enterprise)
        make_qualification_application(owner, status="returned", staff=0, materials=False, projects=0)
        record = make_membership_application(owner.enterprise, status="submitted")
        apply(record, "return", ctx["reviewer"], comment="请补充")


def grow_nothing(ctx: dict, n: int) -> None:
    """Configuration lists hold a fixed set of rows."""


def grow_own_changes(ctx: dict, n: int) -> None:
    """Approved changes of the owner's profile: its requests and their history rows."""
    from factories import make_change_request

    for _ in range(n):
        apply(make_change_request(ctx["owner"], "submitted"), "approve", ctx["reviewer"])


def grow_change_requests(ctx: dict, n: int) -> None:
    from factories import make_change_request

    for _ in range(n):
        make_change_request(make_enterprise_user(), "submitted")


def grow_own_replacements(ctx: dict, n: int) -> None:
    """The owner's 挂失申请, each on a certificate of its own (the picker grows too)."""
    from factories import make_replacement_request

    for _ in range(n):
        make_replacement_request(ctx["owner"], "withdrawn")


def grow_replacements(ctx: dict, n: int) -> None:
    from factories import make_replacement_request

    for _ in range(n):
        make_replacement_request(make_enterprise_user(), "submitted")


def grow_job_runs(ctx: dict, n: int) -> None:
    import datetime as dt

    from app.jobs import JOBS, run_due

    for i in range(n):
        for name in JOBS:
            if name.startswith("purge"):
                run_due(name, now=dt.datetime(2027, 1, 1) + dt.timedelta(days=i))


# (role, url, factory, query budget); urls may name ctx entries in {braces}.
LIST_PAGES: list[tuple[str, str, Callable[[dict, int], None], int]] = [
    ("Reviewer", "/backoffice/", grow_dashboard, 12),
    ("AssociationAdmin", "/backoffice/", grow_dashboard, 13),
    ("Reviewer", "/backoffice/enterprises/list/?q=安防", grow_enterprises, 8),
    ("Reviewer", "/backoffice/enterprises/list/", grow_enterprises, 8),
    ("AssociationAdmin", "/backoffice/audit/list/", grow_applications, 8),
    ("Reviewer", "/backoffice/review/", grow_applications, 8),
    ("Reviewer", "/backoffice/review/membership/", grow_applications, 8),
    ("Reviewer", "/backoffice/review/membership/?status=all", grow_applications, 8),
    ("Reviewer", "/backoffice/staff/", grow_enrollments, 8),
    ("Reviewer", "/backoffice/training/", grow_batches, 8),
    ("Reviewer", "/backoffice/training/{batch}/", grow_enrollments, 8),
    ("Reviewer", "/backoffice/training/batches/list/", grow_batches, 8),
    ("AssociationAdmin", "/backoffice/member-tiers/list/", grow_nothing, 8),
    ("AssociationAdmin", "/backoffice/settings/list/", grow_nothing, 8),
    ("Admin", "/users/list/", grow_users, 8),
    ("Admin", "/roles/list/", grow_nothing, 8),
    ("Admin", "/groups/list/", grow_nothing, 8),
    ("owner", "/membership/", grow_own_applications, 8),
    ("owner", "/portal/", grow_portal_home, 18),
    ("owner", "/messages/", grow_messages, 8),
    ("owner", "/training/", grow_staff, 8),
    ("owner", "/qualification/new/", grow_own_qualification, 8),
    ("owner", "/qualification/annual/", grow_own_qualification, 8),
    ("owner", "/qualification/upgrade/", grow_own_qualification, 8),
    ("owner", "/qualification/downgrade/", grow_own_qualification, 8),
    ("owner", "/qualification/renewal/", grow_own_qualification, 8),
    ("owner", "/qualification/certificates/", grow_own_certificates, 8),
    ("owner", "/change/", grow_own_changes, 8),
    ("owner", "/replacement/", grow_own_replacements, 8),
    ("Reviewer", "/backoffice/review/change/", grow_change_requests, 8),
    ("Reviewer", "/backoffice/review/replacement/", grow_replacements, 8),
    ("oop_owner", "/filing/", grow_own_filings, 8),
    ("Reviewer", "/backoffice/review/qualification_new/", grow_qualification_applications, 8),
    ("Reviewer", "/backoffice/certificates/", grow_certificates, 8),
    ("Reviewer", "/backoffice/members/list/", grow_members, 8),
    ("Reviewer", "/backoffice/notifications/", grow_notifications, 8),
    ("AssociationAdmin", "/backoffice/qualification/levels/list/", grow_nothing, 8),
    ("AssociationAdmin", "/backoffice/qualification/rules/list/", grow_nothing, 8),
    ("AssociationAdmin", "/backoffice/qualification/materials/list/", grow_nothing, 8),
    ("Reviewer", "/backoffice/jobs/", grow_job_runs, 8),
    ("AssociationAdmin", "/backoffice/message-templates/list/", grow_nothing, 8),
]
# GET routes without arguments that are not lists: forms, wizards, redirects, data for scripts.
NOT_LISTS = {
    "/",
    "/account/info",
    "/account/password",
    "/activate/",
    "/activate/phone",
    "/back",
    "/captcha/",
    "/backoffice/member-tiers/add",
    "/backoffice/qualification/levels/add",
    "/backoffice/qualification/rules/add",
    "/backoffice/qualification/materials/add",
    "/backoffice/training/batches/add",
    "/backoffice/workflows/",
    "/forgot-password/",
    "/forgot-password/new",
    "/groups/add",
    "/login/",
    "/membership/apply",
    "/membership/notice",
    "/change/apply",
    "/change/notice",
    "/replacement/apply",
    "/replacement/notice",
    "/filing/apply",
    "/filing/notice",
    *(
        f"/qualification/{kind}/{page}"
        for kind in ("new", "annual", "upgrade", "downgrade", "renewal")
        for page in ("apply", "notice")
    ),
    "/regions/",
    "/register/",
    "/register/enterprise",
    "/register/password",
    "/resetmypassword/form",
    "/resetpassword/form",
    "/roles/add",
    "/training/staff/new",
    "/userinfoeditview/form",
    "/users/add",
    "/users/userinfo/",
}


def test_every_list_page_is_measured(app):
    measured = {url.split("?")[0] for _role, url, _grow, _budget in LIST_PAGES}
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint.endswith(".csv"):
            continue
        if rule.arguments:
            continue
        assert rule.rule in measured or rule.rule in NOT_LISTS, f"list page not measured: {rule.rule} ({rule.endpoint})"


@pytest.mark.parametrize(
    "role,url,grow,budget", LIST_PAGES, ids=[f"{role}:{url}" for role, url, _grow, _budget in LIST_PAGES]
)
def test_list_query_count_is_flat(app, client, auth, role, url, grow, budget):
    ctx: dict = {"owner": make_enterprise_user(), "reviewer": make_user("Reviewer")}
    if role == "oop_owner":
        ctx["oop_owner"] = make_enterprise_user("OutOfProvinceEnterprise", region_code="320102")
    user = ctx[role] if role in ("owner", "oop_owner") else make_user(role)
    grow(ctx, 2)
    auth.login(user.username)
    target = url.format(**{key: getattr(value, "id", value) for key, value in ctx.items()})
    few = queries_for(client, target)
    grow(ctx, 12)
    many = queries_for(client, target)
    assert many == few, f"{target}: {few} queries with few rows, {many} with more"
    assert many <= budget, f"{target}: {many} queries, budget {budget}"

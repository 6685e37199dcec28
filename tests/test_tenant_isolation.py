"""Tenant isolation: the scoping helper, and a sweep of every route that takes an id.

The sweep walks app.url_map, so a new route joins it automatically. A route argument it does not
know how to fill makes the sweep fail until it is classified here.

What enterprise B owns is found from the schema, not listed by hand: every row of every table with
an `enterprise_id` of B, and every row that points at one of those rows through a foreign key.

A positive control keeps the sweep honest: every POST route an enterprise can reach, fired by the
owner B with the same form, must change B's data (or be declared here as not writing). Without it
a route whose action fails anyway (a refused delete, an invalid form) would pass the sweep even
with its scope check removed. `tools/scope_mutations.py` proves the point by removing each scope
check in turn and expecting this file to fail.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from urllib.parse import urlsplit

import pytest
from flask_appbuilder import Model
from PIL import Image
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from app import db
from app.models import Certificate, Enterprise, MemberTier, StoredFile, TechnicalStaff
from app.roles import PORTAL_VIEW_NAMES
from app.scoping import get_scoped_or_404, scoped
from app.uploads import save_upload
from conftest import CSRF_RE, clean_database
from factories import (
    id_number,
    level,
    make_batch,
    make_enterprise_user,
    make_membership_application,
    make_staff,
    make_user,
    person,
    workbook,
)

# Route arguments that never name a row: (endpoint, argument) -> values to try.
NON_ID_ARGUMENTS = {
    ("static", "filename"): ["css/platform.css"],
    ("appbuilder.static", "filename"): ["css/ab.css"],
    ("LocaleView.index", "locale"): ["zh"],
    # Public verification answers for any certificate number by design (holder, status, validity);
    # the sweep asks for one nobody holds (a real one is public, see tests/test_verification.py).
    ("VerifyView.page", "number"): ["皖安协备[2000]第0000号"],
    ("CertificateApiView.show", "number"): ["皖安协备[2000]第0000号"],
}
# Application routes take the workflow's kind beside the id.
KIND_ARGUMENT = "kind"
# FAB's generic `action` routes take an action name beside the pk.
ACTION_NAMES = ["muldelete", "delete"]
ID_ARGUMENT = re.compile(r"^(pk|id|.+_id)$")
# Arguments naming shared rows rather than an enterprise's: filled with the shared row's id.
SHARED_ROW_ARGUMENTS = {"batch_id": "batch"}

# Positive control: which of B's rows the owner's POST names, per argument (endpoint overrides).
OWNER_ROWS = {"staff_id": "b_free_staff", "application_id": "b_submitted", "batch_id": "batch"}
OWNER_ROWS_BY_ENDPOINT = {
    "MembershipView.delivery": {"application_id": "b_application"},
    "MembershipView.pay": {"application_id": "b_application"},
    "FilingView.act": {"application_id": "b_filing"},
    "FilingView.edit": {"application_id": "b_filing"},
    "ChangeRequestView.act": {"application_id": "b_change"},
    "ChangeRequestView.edit": {"application_id": "b_change"},
    "ReplacementView.act": {"application_id": "b_replacement"},
    "ReplacementView.edit": {"application_id": "b_replacement"},
    "ReplacementView.delivery": {"application_id": "b_replacement_approved"},
    "ReplacementView.pay": {"application_id": "b_replacement_approved"},
}
# Pages the owner opens first, as a person would (notices that gate an action).
OWNER_PREPARES = {
    "TrainingView.signup_one": ["/training/batch/{batch_id}"],
    "TrainingView.signup_selected": ["/training/batch/{batch_id}"],
    "TrainingView.batch_upload": ["/training/batch/{batch_id}"],
}
# Enterprise-reachable POST routes with ids that write nothing by design: endpoint -> why.
NON_WRITING_POSTS: dict[str, str] = {}
# Methods that only redirect on every view of a kind (the qualification wizard's 修改资料 opens step 1).
NON_WRITING_METHODS = {"edit": "qualification views: 修改资料 redirects to the wizard"}
# Step 1 changes only the level, and 年审 and 到期换证 keep the held level: their `basic` cannot
# write; 资质申请's `basic` (the same method) is the one the control proves.
NON_WRITING_POSTS.update(
    {
        f"{view}.basic": "the held level is the only choice"
        for view in ("AnnualReviewView", "RenewalView", "UpgradeView", "DowngradeView")
    }
)


def withdraw_other_qualification_drafts(tenants: dict, keep: str) -> None:
    """One open qualification application per enterprise: the others step aside for this case."""
    for short in QUALIFICATION_KINDS:
        if f"b_q_{short}" != keep:
            tenants[f"b_q_{short}"].status = "withdrawn"
    db.session.commit()


OWNER_SETUP = {"NewQualificationView.basic": lambda t: withdraw_other_qualification_drafts(t, "b_q_new")}
QUALIFICATION_KINDS = ("new", "annual", "upgrade", "downgrade", "renewal")


def set_role(app, user, role: str) -> None:
    user.roles = [app.appbuilder.sm.find_role(role)]
    db.session.commit()


def owner_rows_for(app, rule) -> dict:
    """The owner's rows for a rule: qualification views each name their own kind's draft."""
    choice = {**OWNER_ROWS, **OWNER_ROWS_BY_ENDPOINT.get(rule.endpoint, {})}
    view_name, _, method = rule.endpoint.partition(".")
    view = next((v for v in app.appbuilder.baseviews if type(v).__name__ == view_name), None)
    kind = getattr(view, "kind", "")
    if kind.startswith("qualification_"):
        short = kind.removeprefix("qualification_")
        choice.update(application_id=f"b_q_{short}", staff_id="b_staff", project_id=f"b_q_{short}_project")
    return choice


def is_non_writing(app, rule) -> bool:
    view_name, _, method = rule.endpoint.partition(".")
    view = next((v for v in app.appbuilder.baseviews if type(v).__name__ == view_name), None)
    return rule.endpoint in NON_WRITING_POSTS or (
        method in NON_WRITING_METHODS and getattr(view, "kind", "").startswith("qualification_")
    )


def png_bytes(color="red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, "PNG")
    return buffer.getvalue()


def owned_rows(enterprise_id: int) -> dict[str, set]:
    """Table name -> primary keys of the rows enterprise `enterprise_id` owns (directly)."""
    owned: dict[str, set] = {"enterprise": {enterprise_id}}
    for table in Model.metadata.sorted_tables:
        if "enterprise_id" in table.c and len(table.primary_key.columns) == 1:
            pk = next(iter(table.primary_key.columns))
            owned[table.name] = set(
                db.session.execute(select(pk).where(table.c.enterprise_id == enterprise_id)).scalars()
            )
    return owned


def snapshot(enterprise_id: int) -> str:
    """Every column of every row B owns, and of every row pointing at one of them."""
    db.session.expire_all()
    owned = owned_rows(enterprise_id)
    rows = []
    for table in Model.metadata.sorted_tables:
        conditions = []
        if "enterprise_id" in table.c:
            conditions.append(table.c.enterprise_id == enterprise_id)
        if table.name == "enterprise":
            conditions.append(table.c.id == enterprise_id)
        for fk in table.foreign_keys:
            ids = owned.get(fk.column.table.name)
            if ids and fk.parent.name != "enterprise_id":
                conditions.append(fk.parent.in_(ids))
        if not conditions:
            continue
        from sqlalchemy import or_

        for row in db.session.execute(select(table).where(or_(*conditions))).mappings():
            rows.append({"_table": table.name, **{k: str(v) for k, v in row.items()}})
    rows.sort(key=lambda r: json.dumps(r, sort_keys=True, ensure_ascii=False))
    return json.dumps(rows, sort_keys=True, ensure_ascii=False)


def make_tenants() -> dict:
    a = make_enterprise_user("Enterprise")
    b = make_enterprise_user("OutOfProvinceEnterprise", region_code="320102", name="乙方机密安防有限公司")
    b_file = save_upload(
        FileStorage(io.BytesIO(png_bytes("blue")), filename="乙方营业执照.png"),
        purpose="test",
        enterprise_id=b.enterprise_id,
        uploaded_by_id=b.id,
    )
    a_file = save_upload(
        FileStorage(io.BytesIO(png_bytes("green")), filename="甲方.png"),
        purpose="test",
        enterprise_id=a.enterprise_id,
        uploaded_by_id=a.id,
    )
    db.session.commit()
    b_application = make_membership_application(
        b.enterprise,
        status="approved",
        payment={
            "file_id": b_file.id,
            "delivery_method": "mail",
            "mail_recipient": "乙方收件人",
            "mail_phone": "13900000001",
            "mail_address": "乙方地址",
        },
        main_business="乙方机密业务范围",
    )
    b_submitted = make_membership_application(b.enterprise, status="submitted", main_business="乙方机密业务范围")
    a_application = make_membership_application(a.enterprise, status="submitted")
    from factories import make_qualification_application as _qualification

    # A's own draft: A's wizard pages (the staff picker …) must not list B's rows either.
    a_qualification = _qualification(a, "qualification_new", "draft", "L3", staff=0, materials=False, projects=0)
    from app.staff import sign_up

    batch = make_batch()
    sign_up(batch.id, b.enterprise_id, [(2, person(901, name="乙方机密技术员"))])
    b_staff = db.session.scalar(select(TechnicalStaff).where(TechnicalStaff.enterprise_id == b.enterprise_id))
    b_free_staff = make_staff(b.enterprise, 902, name="乙方机密未报名技术员")
    from app.memberships import grant

    b_membership = grant(b.enterprise_id, b_application.tier_id, 1000)
    db.session.commit()
    from app.models import QualificationStaff
    from factories import make_qualification_application

    drafts = {}
    for short in QUALIFICATION_KINDS:
        draft = make_qualification_application(
            b, f"qualification_{short}", "draft", "L2", staff=0, materials=False, projects=1
        )
        draft.projects[0].name = "乙方机密工程项目"
        draft.staff.append(
            QualificationStaff(enterprise_id=b.enterprise_id, staff_id=b_staff.id, id_number=b_staff.id_number)
        )
        drafts[f"b_q_{short}"] = draft
        drafts[f"b_q_{short}_project"] = draft.projects[0]
    db.session.commit()
    from factories import make_change_request, make_replacement_request

    b_change = make_change_request(b, "submitted", explanation="乙方机密变更说明")
    b_certificate = db.session.get(Certificate, b_membership.certificate_id)
    b_replacement = make_replacement_request(b, "submitted", certificate=b_certificate, statement="乙方机密挂失说明")
    b_replacement_approved = make_replacement_request(
        b,
        "approved",
        certificate=b_certificate,
        copy="duplicate",
        statement="乙方机密挂失说明",
        payment={"fee": 50, "delivery_method": "pickup"},
    )
    from factories import make_filing_application

    b_filing = make_filing_application(b, "submitted", person_in_charge="乙方机密负责人")
    b_filing.projects[0].name = "乙方机密备案项目"
    from app import certificates

    b_filing_certificate = certificates.issue(
        "filing", enterprise_id=b.enterprise_id, holder_name=b.enterprise.name, valid_from=dt.date(2026, 1, 1)
    )
    db.session.commit()
    return {
        "a": a,
        "b_filing": b_filing,
        "b_filing_certificate": b_filing_certificate,
        "b": b,
        "b_file": b_file,
        "a_file": a_file,
        "b_application": b_application,
        "b_submitted": b_submitted,
        "a_application": a_application,
        "a_qualification": a_qualification,
        "b_staff": b_staff,
        "b_free_staff": b_free_staff,
        "batch": batch,
        "b_membership": b_membership,
        "b_certificate": b_certificate,
        "b_change": b_change,
        "b_replacement": b_replacement,
        "b_replacement_approved": b_replacement_approved,
        **drafts,
    }


@pytest.fixture
def tenants(app):
    return make_tenants()


def test_scoped_helper(app, tenants):
    a, b = tenants["a"], tenants["b"]
    reviewer = make_user("Reviewer")
    nobody = make_user("Public")
    all_files = select(StoredFile)
    assert {f.enterprise_id for f in db.session.scalars(scoped(all_files, StoredFile, a))} == {a.enterprise_id}
    assert {f.enterprise_id for f in db.session.scalars(scoped(all_files, StoredFile, b))} == {b.enterprise_id}
    every_file = db.session.scalars(all_files).all()
    assert len(db.session.scalars(scoped(all_files, StoredFile, reviewer)).all()) == len(every_file)
    assert db.session.scalars(scoped(all_files, StoredFile, nobody)).all() == []
    assert [e.id for e in db.session.scalars(scoped(select(Enterprise), Enterprise, a))] == [a.enterprise_id]
    with pytest.raises(Exception) as excinfo:
        get_scoped_or_404(StoredFile, tenants["b_file"].id, a)
    assert getattr(excinfo.value, "code", None) == 404
    assert get_scoped_or_404(StoredFile, tenants["a_file"].id, a).id == tenants["a_file"].id


def b_row_ids(tenants: dict) -> list[int]:
    b = tenants["b"]
    return sorted(
        {
            b.enterprise_id,
            b.id,
            tenants["b_file"].id,
            tenants["b_application"].id,
            tenants["b_submitted"].id,
            tenants["b_staff"].id,
            tenants["b_free_staff"].id,
            tenants["b_filing"].id,
            tenants["b_filing_certificate"].id,
            tenants["b_change"].id,
            tenants["b_replacement"].id,
            tenants["b_replacement_approved"].id,
        }
    )


def fill(rule, values: dict) -> str:
    url = rule.rule
    for argument, value in values.items():
        url = re.sub(r"<(?:[^:<>]+:)?" + argument + r">", str(value), url)
    return url


def candidate_urls(app, ids: list[int], tenants: dict):
    """(rule, url) for every route: with arguments, each id of B's rows filled in; without, as it is
    (list pages must not show another tenant's rows either)."""
    for rule in app.url_map.iter_rules():
        if not rule.arguments:
            yield rule, rule.rule
            continue
        value_lists = []
        for argument in sorted(rule.arguments):
            key = (rule.endpoint, argument)
            if key in NON_ID_ARGUMENTS:
                value_lists.append((argument, NON_ID_ARGUMENTS[key]))
            elif argument == KIND_ARGUMENT:
                from app.workflows import REGISTRY

                value_lists.append((argument, sorted(REGISTRY)))
            elif argument == "name" and "/action/" in rule.rule:
                value_lists.append((argument, ACTION_NAMES))
            elif argument in SHARED_ROW_ARGUMENTS:
                value_lists.append((argument, [tenants[SHARED_ROW_ARGUMENTS[argument]].id]))
            elif ID_ARGUMENT.match(argument):
                value_lists.append((argument, ids))
            else:
                pytest.fail(
                    f"route {rule.rule} ({rule.endpoint}) has an argument the isolation sweep cannot fill: {argument}"
                )
        combos = [{}]
        for argument, values in value_lists:
            combos = [dict(c, **{argument: v}) for c in combos for v in values]
        for values in combos:
            yield rule, fill(rule, values)


NEUTRAL_ID_NUMBER = id_number(region="340104", birth="19880808", seq=777)


def post_data(token: str, b_ids: list[int], tenants: dict) -> dict:
    """A form that every POST route would accept if it let enterprise A act on B's rows
    (and that the positive control shows does write when B sends it)."""
    if "_post_constants" not in tenants:  # built once per set of tenants: files and ids
        tenants["_post_constants"] = {
            "tier": db.session.scalar(select(MemberTier.id).where(MemberTier.active.is_(True)).order_by(MemberTier.id)),
            "level": level("L3").id,
            "yellow": png_bytes("yellow"),
            "purple": png_bytes("purple"),
            "workbook": workbook([person(903, name="报名表中的人")]),
        }
    constants = tenants["_post_constants"]
    tier = constants["tier"]
    return {
        "csrf_token": token,
        "rowid": b_ids,
        "ids": b_ids,
        "name": "x",
        "phone": "13900000000",
        "transition": "withdraw",
        "action": "confirm",
        "comment": "x",
        "delivery_method": "pickup",
        "payment_phone": "13900000000",
        "screenshot": (io.BytesIO(constants["yellow"]), "转账截图.png"),
        "tier": str(tier),
        "legal_person": "x",
        "registered_capital": "1",
        "employees": "1",
        "technical_staff": "0",
        "main_business": "x",
        "contact_person": "x",
        "contact_phone": "13900000000",
        # a valid ID number of nobody's: echoed back by a re-rendered form, it must not look like a leak
        "gender": "男" if int(NEUTRAL_ID_NUMBER[16]) % 2 else "女",
        "id_number": NEUTRAL_ID_NUMBER,
        "mobile": "13900000000",
        "education": "本科",
        "title": "工程师",
        "position": "施工员",
        "insurance_months": "1",
        "kind": "x",
        "number": "y",
        "workbook": (io.BytesIO(constants["workbook"]), "报名表.xlsx"),
        "level": str(constants["level"]),
        "staff_ids": [tenants["b_free_staff"].id],
        "proof": (io.BytesIO(constants["purple"]), "社保证明.png"),
        "office_area": "321",
        "iso9001": "y",
        "client": "x",
        "contract_value": "10",
        "completed_on": "2025-01-01",
        "home_qualification": "x",
        "person_in_charge": "x",
        "person_in_charge_phone": "13900000000",
        "projects-0-name": "x",
        "projects-0-city": "x",
        "projects-0-contract_value": "1",
        "projects-0-start_on": "2026-01-01",
        "certificate": str(tenants["b_certificate"].id),
        "copy": "original",
        "reason": "lost",
        "statement": "x",
    }


# Route arguments naming rows of a table: a page linking to such a route with B's row is a leak.
ARGUMENT_TABLES = {"application_id": "application", "staff_id": "technical_staff", "file_id": "stored_file"}


def links_to_rows_of(app, enterprise_id: int) -> list[str]:
    """href="…" of every GET route with one id argument, filled with each row of that table B owns."""
    owned = owned_rows(enterprise_id)
    links = []
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods and len(rule.arguments) == 1:
            (argument,) = rule.arguments
            for row_id in owned.get(ARGUMENT_TABLES.get(argument, ""), ()):
                links.append(f'href="{fill(rule, {argument: row_id})}"')
    return links


def markers_of(tenants: dict) -> list[str]:
    b = tenants["b"]
    return [
        tenants["b_membership"].member_number,
        tenants["b_filing_certificate"].number,
        b.enterprise.name,
        b.enterprise.credit_code,
        b.username,
        "乙方营业执照",
        "乙方机密业务范围",
        "乙方机密技术员",
        "乙方机密未报名技术员",
        "乙方收件人",
        "乙方机密工程项目",
        "乙方机密备案项目",
        "乙方机密负责人",
        "乙方机密变更说明",
        "乙方机密挂失说明",
        tenants["b_staff"].id_number,
        tenants["b_free_staff"].id_number,
    ]


def page_token(client) -> str:
    page = client.get("/", follow_redirects=True).get_data(as_text=True)
    token_match = CSRF_RE.search(page) or CSRF_RE.search(client.get("/login/").get_data(as_text=True))
    return token_match.group(1)


@pytest.mark.parametrize("actor", ["Enterprise", "OutOfProvinceEnterprise", "anonymous"])
def test_no_route_reveals_or_changes_another_enterprise(app, client, auth, tenants, actor):
    a, b = tenants["a"], tenants["b"]
    if actor != "anonymous":
        set_role(app, a, actor)  # A as either kind of enterprise: each reaches its own portal's routes
        auth.login(a.username)
    b_ids = b_row_ids(tenants)
    b_file_bytes = open(
        app.config["UPLOAD_ROOT"] + "/" + tenants["b_file"].storage_key[:2] + "/" + tenants["b_file"].storage_key, "rb"
    ).read()
    b_links = set(links_to_rows_of(app, b.enterprise_id))
    markers = markers_of(tenants) + sorted(b_links)
    before = snapshot(b.enterprise_id)
    token = page_token(client)
    checked = 0
    # B's rows are compared after each route has been tried with every id (GET and POST): a change is
    # named by its route's requests, in a fraction of the queries of a comparison per request.
    tried: list = []

    def verify() -> None:
        if tried:
            assert snapshot(b.enterprise_id) == before, f"{actor} {', '.join(tried)} changed enterprise B's data"
            tried.clear()

    previous = None
    for rule, url in candidate_urls(app, b_ids, tenants):
        if rule is not previous:
            verify()
            previous = rule
        # Routes without an id are read (lists); writing through them never names B's rows.
        methods = rule.methods & ({"GET", "POST"} if rule.arguments else {"GET"})
        for method in sorted(methods):
            if method == "GET":
                response = client.get(url)
            else:
                response = client.post(url, data=post_data(token, b_ids, tenants))
            body = response.get_data()
            text = body.decode("utf-8", "replace")
            if 200 <= response.status_code < 300:
                leaked = [m for m in markers if m in text] + (["file bytes"] if b_file_bytes in body else [])
                assert not leaked, f"{actor} {method} {url} revealed {leaked}"
            elif 300 <= response.status_code < 400 and not rule.arguments:
                # a page without an id that sends A on to one of B's rows (a wizard resuming "the" draft)
                location = urlsplit(response.headers.get("Location", "")).path
                assert f'href="{location}"' not in b_links, f"{actor} {method} {url} redirected to B's row {location}"
            tried.append(f"{method} {url}")
            checked += 1
    verify()
    assert checked > 20  # the sweep really walked the routes
    # A's own pages (its applications, its staff) list choices too: none of them may be B's.
    a_owned = owned_rows(a.enterprise_id)
    a_ids = sorted(a_owned.get("application", set()) | a_owned.get("technical_staff", set()))
    for rule, url in candidate_urls(app, a_ids, tenants):
        if rule.arguments and "GET" in rule.methods:
            response = client.get(url)
            if 200 <= response.status_code < 300:
                text = response.get_data().decode("utf-8", "replace")
                leaked = [m for m in markers if m in text]
                assert not leaked, f"{actor} GET {url} (A's own row) revealed {leaked}"


def enterprise_post_routes(app) -> list:
    """POST routes with arguments on views an enterprise role may hold permissions on."""
    portal_endpoints = {
        f"{type(view).__name__}.{name}"
        for view in app.appbuilder.baseviews
        if getattr(view, "class_permission_name", None) in PORTAL_VIEW_NAMES
        for name in dir(view)
    }
    return sorted(
        (rule for rule in app.url_map.iter_rules() if rule.endpoint in portal_endpoints and "POST" in rule.methods),
        key=lambda rule: rule.rule,
    )


def test_owner_posts_do_write_so_the_sweep_means_something(app, client, auth):
    """Each enterprise POST route with ids, fired by the owner with the sweep's form, changes its data."""
    routes = [rule for rule in enterprise_post_routes(app) if rule.arguments]
    assert routes, "no enterprise POST routes found"
    silent = []
    for rule in routes:
        if is_non_writing(app, rule):
            continue
        clean_database()
        tenants = make_tenants()
        b = tenants["b"]
        with client.session_transaction() as session:
            session.clear()
        # B fires each route with the role whose portal has it (外省企业备案 is out-of-province only).
        set_role(app, b, "OutOfProvinceEnterprise" if rule.endpoint.startswith("FilingView.") else "Enterprise")
        auth.login(b.username)
        choice = owner_rows_for(app, rule)
        values = {}
        for argument in rule.arguments:
            assert argument in choice, f"{rule.endpoint}: no owner row for argument {argument}; add it to OWNER_ROWS"
            values[argument] = tenants[choice[argument]].id
        if rule.endpoint in OWNER_SETUP:
            OWNER_SETUP[rule.endpoint](tenants)
        for page in OWNER_PREPARES.get(rule.endpoint, []):
            client.get(page.format(**values))
        before = snapshot(b.enterprise_id)
        client.post(fill(rule, values), data=post_data(page_token(client), b_row_ids(tenants), tenants))
        if snapshot(b.enterprise_id) == before:
            silent.append(rule.endpoint)
    assert silent == [], f"the owner's POST changed nothing (sweep would be blind there): {silent}"


def test_owner_and_staff_reach_the_file(app, client, auth, tenants):
    auth.login(tenants["b"].username)
    response = client.get(f"/files/{tenants['b_file'].id}")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert client.get(f"/files/{tenants['a_file'].id}").status_code == 404
    auth.logout()
    reviewer = make_user("Reviewer")
    auth.login(reviewer.username)
    assert client.get(f"/files/{tenants['a_file'].id}").status_code == 200
    assert client.get(f"/files/{tenants['b_file'].id}").status_code == 200

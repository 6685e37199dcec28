"""Tenant isolation: the scoping helper, and a sweep of every route that takes an id.

The sweep walks app.url_map, so a new route joins it automatically. A route argument it does not
know how to fill makes the sweep fail until it is classified here.
"""

from __future__ import annotations

import io
import json
import re

import pytest
from PIL import Image
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from app import db
from app.models import (
    Enrollment,
    Enterprise,
    MembershipApplication,
    Notification,
    PlatformUser,
    StoredFile,
    TechnicalStaff,
)
from app.scoping import get_scoped_or_404, scoped
from app.uploads import save_upload
from conftest import CSRF_RE
from factories import make_enterprise_user, make_membership_application, make_user

# Route arguments that never name a row: (endpoint, argument) -> values to try.
NON_ID_ARGUMENTS = {
    ("static", "filename"): ["css/platform.css"],
    ("appbuilder.static", "filename"): ["css/ab.css"],
    ("LocaleView.index", "locale"): ["zh"],
}
# Application routes take the workflow's kind beside the id.
KIND_ARGUMENT = "kind"
# FAB's generic `action` routes take an action name beside the pk.
ACTION_NAMES = ["muldelete", "delete"]
ID_ARGUMENT = re.compile(r"^(pk|id|.+_id)$")


def png_bytes(color="red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, "PNG")
    return buffer.getvalue()


def snapshot(enterprise_id: int) -> str:
    """Every column of every row enterprise B owns, to detect any change."""
    db.session.expire_all()
    rows = []
    for model, column in (
        (Enterprise, Enterprise.id),
        (PlatformUser, PlatformUser.enterprise_id),
        (StoredFile, StoredFile.enterprise_id),
        (MembershipApplication, MembershipApplication.enterprise_id),
        (Notification, Notification.enterprise_id),
        (TechnicalStaff, TechnicalStaff.enterprise_id),
        (Enrollment, Enrollment.enterprise_id),
    ):
        for obj in db.session.scalars(select(model).where(column == enterprise_id)):
            rows.append(
                {c.name: str(getattr(obj, c.key, None)) for c in model.__table__.columns if hasattr(obj, c.key)}
            )
    return json.dumps(rows, sort_keys=True, ensure_ascii=False)


@pytest.fixture
def tenants(app):
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
        b.enterprise, status="approved", payment={"file_id": b_file.id}, main_business="乙方机密业务范围"
    )
    a_application = make_membership_application(a.enterprise, status="submitted")
    from test_training import make_batch, person

    from app.staff import sign_up

    batch = make_batch()
    sign_up(batch.id, b.enterprise_id, [(2, person(901, name="乙方机密技术员"))])
    b_staff = db.session.scalar(select(TechnicalStaff).where(TechnicalStaff.enterprise_id == b.enterprise_id))
    return {
        "a": a,
        "b": b,
        "b_file": b_file,
        "a_file": a_file,
        "b_application": b_application,
        "a_application": a_application,
        "b_staff": b_staff,
    }


def test_scoped_helper(app, tenants):
    a, b = tenants["a"], tenants["b"]
    reviewer = make_user("Reviewer")
    nobody = make_user("Public")
    all_files = select(StoredFile)
    assert {f.enterprise_id for f in db.session.scalars(scoped(all_files, StoredFile, a))} == {a.enterprise_id}
    assert {f.enterprise_id for f in db.session.scalars(scoped(all_files, StoredFile, b))} == {b.enterprise_id}
    assert len(db.session.scalars(scoped(all_files, StoredFile, reviewer)).all()) == 2
    assert db.session.scalars(scoped(all_files, StoredFile, nobody)).all() == []
    assert [e.id for e in db.session.scalars(scoped(select(Enterprise), Enterprise, a))] == [a.enterprise_id]
    with pytest.raises(Exception) as excinfo:
        get_scoped_or_404(StoredFile, tenants["b_file"].id, a)
    assert getattr(excinfo.value, "code", None) == 404
    assert get_scoped_or_404(StoredFile, tenants["a_file"].id, a).id == tenants["a_file"].id


def candidate_urls(app, ids: list[int]):
    """(rule, url) for every route with arguments, each id of B's rows filled in."""
    for rule in app.url_map.iter_rules():
        if not rule.arguments:
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
            url = rule.rule
            for argument, value in values.items():
                url = re.sub(r"<(?:[^:<>]+:)?" + argument + r">", str(value), url)
            yield rule, url


def post_data(token: str, b_ids: list[int], tenants: dict) -> dict:
    """A form that every POST route would accept if it let enterprise A act on B's rows."""
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
        "tier": "1",
        "legal_person": "x",
        "registered_capital": "1",
        "employees": "1",
        "technical_staff": "0",
        "main_business": "x",
        "contact_person": "x",
        "contact_phone": "13900000000",
        "gender": "male",
        "id_number": tenants["b_staff"].id_number,
        "mobile": "13900000000",
        "education": "本科",
        "title": "工程师",
        "position": "施工员",
        "insurance_months": "1",
        "kind": "x",
        "number": "y",
    }


@pytest.mark.parametrize("actor", ["Enterprise", "anonymous"])
def test_no_route_reveals_or_changes_another_enterprise(app, client, auth, tenants, actor):
    a, b = tenants["a"], tenants["b"]
    if actor == "Enterprise":
        auth.login(a.username)
    b_ids = sorted({b.enterprise_id, b.id, tenants["b_file"].id, tenants["b_application"].id, tenants["b_staff"].id})
    b_file_bytes = open(
        app.config["UPLOAD_ROOT"] + "/" + tenants["b_file"].storage_key[:2] + "/" + tenants["b_file"].storage_key, "rb"
    ).read()
    markers = [
        b.enterprise.name,
        b.enterprise.credit_code,
        b.username,
        "乙方营业执照",
        "乙方机密业务范围",
        "乙方机密技术员",
        tenants["b_staff"].id_number,
    ]
    before = snapshot(b.enterprise_id)
    page = client.get("/", follow_redirects=True).get_data(as_text=True)
    token_match = CSRF_RE.search(page) or CSRF_RE.search(client.get("/login/").get_data(as_text=True))
    token = token_match.group(1)

    checked = 0
    for rule, url in candidate_urls(app, b_ids):
        for method in sorted(rule.methods & {"GET", "POST"}):
            if method == "GET":
                response = client.get(url)
            else:
                response = client.post(url, data=post_data(token, b_ids, tenants))
            body = response.get_data()
            text = body.decode("utf-8", "replace")
            if 200 <= response.status_code < 300:
                leaked = [m for m in markers if m in text] + (["file bytes"] if b_file_bytes in body else [])
                assert not leaked, f"{actor} {method} {url} revealed {leaked}"
            assert snapshot(b.enterprise_id) == before, f"{actor} {method} {url} changed enterprise B's data"
            checked += 1
    assert checked > 20  # the sweep really walked the routes


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

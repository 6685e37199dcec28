"""Malformed list parameters never answer 500: every list route is swept with each of them.

The answer is the list with the bad parameter ignored (200, or the view's own redirect), never a
server error. The sweep finds its routes in the URL map, so a new list is swept without edits.
"""

from __future__ import annotations

import datetime as dt

import pytest

from app import create_app, db
from app.models import TrainingBatch
from app.workflows import REGISTRY
from conftest import AuthActions, IsolatedClient, app_settings
from factories import make_enterprise_user, make_user

# `{v}` is the view's own name, as Flask-AppBuilder spells its per-view list parameters.
MALFORMED = [
    "_oc_{v}=name",
    "_oc_{v}=no_such_column&_od_{v}=asc",
    "_oc_{v}=id&_od_{v}=sideways",
    "psize_{v}=abc",
    "psize_{v}=99999999999999999999",
    "psize_{v}=0",
    "page_{v}=abc",
    "page_{v}=99999999999999999999",
    "page_{v}=-1",
    "_flt_4_x=x",
    "_flt_0_name=99999999999999999999",
    "_flt_9_created_on=x",
    "_flt_4_starts_on=x",
    "_flt_0_starts_on=x",
    "_flt_1_created_on=not-a-date",
    "_flt_0_id=99999999999999999999",
    "page=99999999999999999999",
    "page=abc",
    "page=-3",
    "to=9999-12-31",
    "from=0001-01-01&to=0001-01-01",
    "to=abc",
    "status=no-such-state",
]
SKIPPED_PREFIXES = ("/static", "/appbuilder", "/lang", "/logout", "/files")


@pytest.fixture(scope="module")
def sweep_app(_app, tmp_path_factory, database_url):
    app = create_app(
        "config.Config",
        **app_settings(tmp_path_factory.mktemp("sweep"), database_url, PROPAGATE_EXCEPTIONS=False),
    )
    app.test_client_class = IsolatedClient
    return app


def list_urls(app, batch_id: int) -> list[tuple[str, str]]:
    """(url, view name) for every GET route a list can be reached by."""
    fillers = {"kind": sorted(REGISTRY), "batch_id": [str(batch_id)]}
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.rule.startswith(SKIPPED_PREFIXES):
            continue
        if not set(rule.arguments) <= set(fillers):
            continue  # a single record's page (pk, application_id …), not a list
        combos = [{}]
        for argument in rule.arguments:
            combos = [dict(c, **{argument: value}) for c in combos for value in fillers[argument]]
        for values in combos:
            url = rule.rule
            for name, value in values.items():
                url = url.replace(f"<{name}>", value).replace(f"<int:{name}>", value)
            urls.append((url, rule.endpoint.split(".")[0]))
    return urls


@pytest.mark.parametrize("kind", ["admin", "enterprise"])
def test_malformed_list_parameters_never_answer_500(app, sweep_app, kind):
    batch = TrainingBatch(
        name="2026年第一期",
        starts_on=dt.date(2026, 3, 1),
        ends_on=dt.date(2026, 3, 3),
        place="合肥",
        capacity=50,
        signup_opens_on=dt.date(2026, 1, 1),
        signup_closes_on=dt.date(2026, 2, 20),
        status="open",
    )
    db.session.add(batch)
    db.session.commit()
    user = make_user("Admin") if kind == "admin" else make_enterprise_user()
    client = sweep_app.test_client()
    AuthActions(client).login(user.username)
    urls = list_urls(sweep_app, batch.id)
    assert any("/backoffice/review/" in url for url, _ in urls) and any(url.endswith("/audit/list/") for url, _ in urls)
    failures = []
    for url, view in urls:
        for parameters in MALFORMED:
            response = client.get(f"{url}?{parameters.format(v=view)}")
            response.get_data()  # a streamed CSV is read to its end, where its errors would show
            if response.status_code >= 500:
                failures.append(f"{url}?{parameters.format(v=view)} -> {response.status_code}")
    assert failures == []


def test_bad_parameter_is_ignored_and_the_list_shown(app, sweep_app):
    admin = make_user("Admin")
    client = sweep_app.test_client()
    AuthActions(client).login(admin.username)
    plain = client.get("/backoffice/audit/list/")
    for parameters in ("_oc_AuditLogView=name", "psize_AuditLogView=99999999999999999999", "page_AuditLogView=abc"):
        response = client.get(f"/backoffice/audit/list/?{parameters}")
        assert response.status_code == 200 == plain.status_code
    queue = client.get("/backoffice/review/membership/?to=9999-12-31&page=99999999999999999999")
    assert queue.status_code == 200


def test_page_number_is_bounded(app):
    from app.views.common import page_number

    for value, expected in (("3", 3), ("0", 1), ("abc", 1), ("99999999999999999999", 1), ("٣", 1)):
        with app.test_request_context(f"/?page={value}"):
            assert page_number() == expected, value

"""工作台 (#13 section 1): the reviewer's waiting work, expiries, training batches and trends, each number
linking to the list it counts."""

import datetime as dt
import html
import json
import re

from app import db
from app.dashboard import trend_months, waiting_counts
from app.memberships import grant
from app.models import MemberTier
from app.qualification import today
from app.staff import sign_up
from app.workflows import REGISTRY
from factories import (
    make_batch,
    make_certificate,
    make_enterprise,
    make_membership_application,
    make_user,
    person,
)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def row_link(page: str, kind: str, status: str, css: str) -> tuple[str, str]:
    """(href, number) of the link with class `css` in the waiting row of kind and status."""
    row = re.search(rf'<tr class="waiting-row" data-kind="{kind}" data-status="{status}">(.*?)</tr>', page, re.S)
    assert row, (kind, status)
    link = re.search(rf'<a class="{css}[^"]*" href="([^"]+)">(\d+)</a>', row.group(1))
    assert link, (kind, status, css, row.group(1))
    return html.unescape(link.group(1)), link.group(2)


def test_waiting_work_per_type_and_state_links_to_the_filtered_queue(app, client, auth):
    auth.login(make_user("Reviewer").username)
    now = utc_now()
    old = make_membership_application(
        make_enterprise(name="等了很久安防公司"), status="submitted", submitted_on=now - dt.timedelta(days=9)
    )
    make_membership_application(make_enterprise(name="今天提交安防公司"), status="submitted", submitted_on=now)
    make_membership_application(make_enterprise(), status="received", submitted_on=now - dt.timedelta(days=2))
    make_membership_application(make_enterprise(), status="withdrawn", submitted_on=now - dt.timedelta(days=30))

    page = client.get("/backoffice/").get_data(as_text=True)
    href, count = row_link(page, "membership", "submitted", "waiting-count")
    assert count == "2" and href == "/backoffice/review/membership/?status=submitted"
    href, count = row_link(page, "membership", "submitted", "too-long-count")
    assert count == "1"
    queue = client.get(href).get_data(as_text=True)
    assert "等了很久安防公司" in queue and "今天提交安防公司" not in queue
    href, count = row_link(page, "membership", "submitted", "today-count")
    assert count == "1"
    queue = client.get(href).get_data(as_text=True)
    assert "今天提交安防公司" in queue and "等了很久安防公司" not in queue
    _href, count = row_link(page, "membership", "received", "waiting-count")
    assert count == "1"
    assert 'data-status="withdrawn"' not in page  # nothing for the association to do
    # the oldest first: the row holding the 9-day-old application comes before the received one
    assert page.index('data-status="submitted"') < page.index('data-status="received"')
    assert f'/backoffice/review/membership/{old.id}"' in page  # 等待最久 lists it
    # 审核总览 counts its long waits with the same function
    assert "1 条申请已等待超过5天" in client.get("/backoffice/review/").get_data(as_text=True)


def test_waiting_counts_per_state(app):
    now = utc_now()
    enterprise = make_enterprise()
    make_membership_application(enterprise, status="submitted", submitted_on=now - dt.timedelta(days=6))
    make_membership_application(enterprise, status="submitted", submitted_on=now)
    rows = {(w.kind, w.status): w for w in waiting_counts(REGISTRY.values())}
    submitted = rows[("membership", "submitted")]
    assert (submitted.count, submitted.too_long, submitted.today) == (2, 1, 1)
    assert submitted.oldest < now - dt.timedelta(days=5)


def test_expiring_certificates_and_memberships_link_to_the_register(app, client, auth):
    auth.login(make_user("Reviewer").username)
    day = today()
    soon = make_enterprise(name="证书快到期安防公司")
    make_certificate(soon, valid_from=day - dt.timedelta(days=362), years=1)  # ends in 2-3 days
    make_certificate(make_enterprise(), valid_from=day - dt.timedelta(days=1040), years=3)  # in about 55 days
    make_certificate(make_enterprise(), valid_from=day, years=3)  # years away
    member = make_enterprise(name="会员快到期安防公司")
    tier = db.session.query(MemberTier).first()
    membership = grant(member.id, tier.id, tier.annual_fee)
    membership.valid_until = day + dt.timedelta(days=20)
    db.session.commit()
    membership.certificate.valid_until = membership.valid_until
    db.session.commit()

    page = client.get("/backoffice/").get_data(as_text=True)
    row = re.search(r'<tr class="expiry-row" data-kind="qualification">(.*?)</tr>', page, re.S).group(1)
    assert re.findall(r">(\d+)</a>", row) == ["2", "1", "1"]
    row = re.search(r'<tr class="expiry-row" data-kind="membership">(.*?)</tr>', page, re.S).group(1)
    assert re.findall(r">(\d+)</a>", row) == ["1", "1", "0"]
    link = html.unescape(re.search(r'href="([^"]+)">1</a>', row).group(1))
    assert "kind=membership" in link and "expiring=" in link
    register = client.get(link).get_data(as_text=True)
    assert "会员快到期安防公司" in register
    seven = html.unescape(
        re.search(
            r'href="([^"]*expiring=7[^"]*)"',
            re.search(r'data-kind="qualification">(.*?)</tr>', page, re.S).group(1),
        ).group(1)
    )
    assert "证书快到期安防公司" in client.get(seven).get_data(as_text=True)


def test_training_batches_taking_sign_ups_or_full(app, client, auth):
    auth.login(make_user("Reviewer").username)
    day = today()
    make_batch(name="正在报名的一期")
    full = make_batch(name="已报满的一期", capacity=1)
    assert sign_up(full.id, make_enterprise().id, [(2, person(501))]).enrolled == 1
    full.status, full.signup_closes_on = "closed", day - dt.timedelta(days=1)
    db.session.commit()
    make_batch(name="早已结束的一期", starts_on=day - dt.timedelta(days=60), ends_on=day - dt.timedelta(days=58))
    make_batch(name="报名已截止的一期", status="closed", signup_closes_on=day - dt.timedelta(days=1))
    page = client.get("/backoffice/").get_data(as_text=True)
    panel = page[page.index("batches-panel") :]
    assert "正在报名的一期" in panel and "已报满的一期" in panel
    assert "早已结束的一期" not in panel and "报名已截止的一期" not in panel
    assert f"/backoffice/training/{full.id}/" in panel
    assert "已报满" in panel and "1 / 1" in panel


def test_trends_are_drawn_from_our_own_echarts_with_a_table(app, client, auth):
    auth.login(make_user("AssociationAdmin").username)
    make_membership_application(make_enterprise(), status="submitted", submitted_on=utc_now())
    make_certificate(make_enterprise(region_code="340104"))
    make_certificate(make_enterprise(region_code="320102"))
    page = client.get("/backoffice/").get_data(as_text=True)
    assert '<script src="/static/vendor/echarts/echarts.min.js"></script>' in page
    assert client.get("/static/vendor/echarts/echarts.min.js").status_code == 200
    assert "cdn" not in page.lower()
    panels = dict(re.findall(r'id="chart-(\w+)"(.*?)</table>', page, re.S))
    assert set(panels) == {"applications", "members", "certificates"}
    assert "data-chart" not in panels["members"] and "暂无数据" in panels["members"]  # no members yet
    charts = {
        key: json.loads(html.unescape(re.search(r"data-chart='([^']+)'", panel).group(1)))
        for key, panel in panels.items()
        if "data-chart" in panel
    }
    months = charts["applications"]["categories"]
    assert months == trend_months() and len(months) == 12
    membership = next(s for s in charts["applications"]["series"] if s["name"] == "入会申请")
    assert membership["data"][-1] == 1 and sum(membership["data"]) == 1
    certificates = charts["certificates"]
    assert sorted(certificates["categories"]) == sorted(["合肥市", "外省"])
    assert sum(sum(s["data"]) for s in certificates["series"]) == 2
    # the same numbers as a table under the chart
    table = page[page.index('id="chart-certificates"') :]
    assert "<td>合肥市</td>" in table and "<td>外省</td>" in table


def test_the_cross_type_totals_lead_to_the_breakdown_and_long_waits_to_the_filtered_queue(app, client, auth):
    make_membership_application(make_enterprise(), status="submitted", submitted_on=utc_now() - dt.timedelta(days=30))
    auth.login(make_user("Reviewer").username)
    page = client.get("/backoffice/").get_data(as_text=True)
    assert 'id="waiting"' in page
    assert re.search(r'<a class="stat-value too-long-total text-danger" href="#waiting"[^>]*>1</a>', page)
    assert re.search(r'<a class="stat-value today-total" href="#waiting"[^>]*>0</a>', page)
    overview = html.unescape(client.get("/backoffice/review/").get_data(as_text=True))
    link = re.search(r'href="(/backoffice/review/membership/\?[^"]*submitted=long[^"]*)"', overview).group(1)
    assert "status=waiting" in link
    # the queue behind the link lists exactly what the line counts: waiting for the association, and long
    returned = make_membership_application(
        make_enterprise(), status="returned", submitted_on=utc_now() - dt.timedelta(days=30)
    )
    listed = client.get(link).get_data(as_text=True)
    assert "1 条申请已等待超过" in overview and f'value="{returned.id}"' not in listed
    assert len(re.findall(r'name="ids" value="\d+"', listed)) == 1

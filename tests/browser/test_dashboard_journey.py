"""Journey: a reviewer and an AssociationAdmin open 工作台 (work waiting, expiries, trend charts drawn by our
own ECharts under the CSP) and an enterprise dossier, on a desktop and on a phone."""

import datetime as dt

import pytest
from playwright.sync_api import expect

from app import db
from app.memberships import grant
from app.models import MemberTier
from app.notify import notify_enterprise
from app.qualification import today
from app.staff import sign_up
from factories import (
    make_batch,
    make_certificate,
    make_enterprise,
    make_enterprise_user,
    make_membership_application,
    make_staff,
    make_user,
    person,
    stored_image,
)

from .conftest import login, screenshot

pytestmark = pytest.mark.browser


def seed() -> int:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    owner = make_enterprise_user(name="合肥档案示例安防工程有限公司")
    enterprise = owner.enterprise
    tier = db.session.query(MemberTier).first()
    grant(enterprise.id, tier.id, tier.annual_fee)
    db.session.commit()
    make_certificate(enterprise, valid_from=today() - dt.timedelta(days=1070))
    for index, region in enumerate(("340104", "340202", "320102", "340302")):
        other = make_enterprise(region_code=region)
        make_membership_application(other, status="submitted", submitted_on=now - dt.timedelta(days=3 * index + 1))
        make_certificate(other, level_code=("L1", "L2", "L3")[index % 3])
        grant(other.id, tier.id, tier.annual_fee)
        db.session.commit()
    make_membership_application(enterprise, status="received", submitted_on=now)
    for seq in range(6):
        make_staff(enterprise, 300 + seq)
    batch = make_batch(name="2026年第二期安防技术培训", capacity=2)
    sign_up(batch.id, enterprise.id, [(2, person(300)), (3, person(301))])
    make_batch(name="2026年第三期安防技术培训")
    notify_enterprise(enterprise.id, "资质证书即将到期", "请及时办理到期换证", sms=False)
    db.session.commit()
    stored_image(owner, name="营业执照.png")
    return enterprise.id


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def visit(page, base: str, enterprise_id: int, label: str, errors: list[str]) -> None:
    page.goto(base + "/backoffice/")
    expect(page.locator(".waiting-panel")).to_be_visible()
    page.wait_for_selector("body[data-charts='rendered']")
    assert page.locator(".dashboard-chart svg").count() == 3  # every chart drawn
    expect(page.locator(".waiting-row").first).to_contain_text("入会申请")
    expect(page.locator(".batches-panel")).to_contain_text("已报满")
    assert no_sideways_scroll(page)
    screenshot(page, f"dashboard-{label}")
    page.locator(".waiting-row a.waiting-count").first.click()
    page.wait_for_url("**/backoffice/review/membership/?status=submitted")

    page.goto(base + "/backoffice/enterprises/list/")
    page.fill(".dossier-search input[name=q]", "合肥档案示例")
    page.click(".dossier-search button[type=submit]")
    page.click("a[href*='/backoffice/enterprises/show/']")
    page.wait_for_url(f"**/backoffice/enterprises/show/{enterprise_id}")
    expect(page.locator("h2.page-title")).to_have_text("合肥档案示例安防工程有限公司")
    expect(page.locator("#staff")).to_contain_text("共 6 条")
    expect(page.locator("#messages")).to_contain_text("资质证书即将到期")
    expect(page.locator("#files")).to_contain_text("营业执照")
    assert no_sideways_scroll(page)
    screenshot(page, f"dossier-{label}")
    assert [e for e in errors if "favicon.ico" not in e] == []  # no CSP refusal, no script error


@pytest.mark.parametrize("role", ["Reviewer", "AssociationAdmin"])
def test_staff_see_work_on_dashboard_and_a_dossier(live_app, live_server, page, role):
    enterprise_id = seed()
    user = make_user(role)
    errors: list[str] = []
    page.on(
        "console",
        lambda message: errors.append(f"{message.text} {message.location.get('url')}") if message.type == "error" else None,
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", lambda response: errors.append(f"{response.status} {response.url}") if response.status >= 400 else None)
    base = live_server.url
    login(page, base, user.username, kind="协会用户")
    page.wait_for_url("**/backoffice/")
    visit(page, base, enterprise_id, f"{role.lower()}-desktop", errors)
    page.set_viewport_size({"width": 375, "height": 800})
    visit(page, base, enterprise_id, f"{role.lower()}-phone", errors)
    assert page.foreign_requests == []


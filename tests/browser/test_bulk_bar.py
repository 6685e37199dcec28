"""The review queue's bulk bar in a browser: nothing selected disables every action; a selection of
rows in different states enables only what all of them allow, and says why the rest are disabled."""

import pytest
from playwright.sync_api import expect

from factories import make_enterprise, make_membership_application, make_user

from .conftest import login, screenshot

pytestmark = pytest.mark.browser


def test_bulk_bar_offers_only_valid_actions(live_app, live_server, page):
    reviewer = make_user("Reviewer", username="bulkbar")
    waiting = make_membership_application(make_enterprise(name="批量甲安防公司"), status="submitted")
    received = make_membership_application(make_enterprise(name="批量乙安防公司"), status="received")
    login(page, live_server.url, reviewer.username, kind="协会用户")
    page.wait_for_url("**/backoffice/")
    page.goto(f"{live_server.url}/backoffice/review/membership/?size=25")
    receive = page.locator(".bulk-actions button[value=receive]")
    approve = page.locator(".bulk-actions button[value=approve]")
    expect(receive).to_be_disabled()
    expect(approve).to_be_disabled()
    expect(page.locator(".bulk-reason")).to_contain_text("请先勾选申请")
    page.check(f"input[name=ids][value='{waiting.id}']")
    expect(receive).to_be_enabled()
    page.check(f"input[name=ids][value='{received.id}']")
    expect(receive).to_be_disabled()
    expect(approve).to_be_enabled()
    expect(page.locator(".bulk-reason")).to_contain_text("已接收")
    screenshot(page, "review-queue-bulk-bar")
    page.set_viewport_size({"width": 375, "height": 800})
    screenshot(page, "review-queue-bulk-bar-phone")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

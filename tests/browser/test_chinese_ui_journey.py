"""Journey (issue 11): FAB's dialogs and date picker in Chinese, the portal home's status cards, the
audit trail as field-by-field changes and notices without blank first lines — at desktop and phone width."""

import datetime as dt

import pytest
from playwright.sync_api import expect

from app import clock
from factories import (
    make_batch,
    make_certificate,
    make_enterprise_user,
    make_membership_application,
    make_staff,
    make_user,
)

from .conftest import login, screenshot

pytestmark = pytest.mark.browser


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def test_fab_confirm_dialog_and_date_picker_in_chinese(live_app, live_server, page):
    admin = make_user("AssociationAdmin")
    base = live_server.url
    login(page, base, admin.username, kind="协会用户")
    page.wait_for_url("**/backoffice/")
    page.goto(base + "/backoffice/qualification/rules/list/")
    page.locator("a.confirm[id^='btn-delete-']").first.click()
    dialog = page.locator("#modal-confirm")
    expect(dialog).to_be_visible()
    page.wait_for_timeout(400)  # Bootstrap's fade-in
    expect(dialog.locator("button[data-dismiss='modal']")).to_have_text("取消")
    expect(dialog.locator("#modal-confirm-ok")).to_have_text("确定")
    screenshot(page, "confirm-dialog-zh")
    dialog.locator("button[data-dismiss='modal']").click()

    page.goto(base + "/backoffice/training/batches/add")
    page.locator("input.appbuilder_date, input[name='starts_on']").first.click()
    picker = page.locator(".datepicker-dropdown")
    expect(picker).to_be_visible()
    expect(picker.locator(".datepicker-switch").first).to_contain_text("年")
    expect(picker.locator("th.dow").first).to_have_text("一")
    screenshot(page, "datepicker-zh")

    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(base + "/backoffice/qualification/rules/list/")
    page.locator("a.confirm[id^='btn-delete-']").first.click()
    expect(page.locator("#modal-confirm #modal-confirm-ok")).to_be_visible()
    expect(page.locator("#modal-confirm #modal-confirm-ok")).to_have_text("确定")
    page.wait_for_timeout(400)
    assert no_sideways_scroll(page)
    screenshot(page, "confirm-dialog-zh-375")
    assert page.foreign_requests == []


def test_portal_home_cards(live_app, live_server, page):
    owner = make_enterprise_user(name="合肥卡片示例安防有限公司")
    make_membership_application(owner.enterprise, status="returned")
    make_certificate(owner.enterprise, "L3", valid_from=clock.today() - dt.timedelta(days=340))
    make_staff(owner.enterprise, 91)
    make_staff(owner.enterprise, 92)
    base = live_server.url
    login(page, base, owner.username)
    page.wait_for_url("**/portal/")
    cards = page.locator(".portal-cards")
    expect(cards.locator(".card-membership")).to_contain_text("入会申请审核中")
    expect(cards.locator(".card-certificates")).to_contain_text("年审：")
    expect(cards.locator(".card-applications")).to_contain_text("按协会意见修改后重新提交")
    expect(cards.locator(".card-staff .portal-card-value")).to_have_text("2")
    screenshot(page, "portal-home-cards")
    page.set_viewport_size({"width": 375, "height": 800})
    page.reload()
    assert no_sideways_scroll(page)
    screenshot(page, "portal-home-cards-375")
    cards.locator(".card-staff").click()
    page.wait_for_url("**/training/")
    assert page.foreign_requests == []


def test_audit_diff_and_notice_without_blank_lines(live_app, live_server, page):
    from app.workflows import apply

    owner = make_enterprise_user()
    record = make_membership_application(owner.enterprise, status="submitted")
    apply(record, "receive", make_user("Reviewer"))
    batch = make_batch(notice="第一行：请如实填写。\n第二行：携带身份证。")
    admin = make_user("AssociationAdmin")
    base = live_server.url
    login(page, base, admin.username, kind="协会用户")
    page.wait_for_url("**/backoffice/")
    page.goto(base + "/backoffice/audit/list/")
    page.locator("a[href^='/backoffice/audit/show/']").first.click()
    changes = page.locator("table.audit-changes")
    expect(changes).to_contain_text("状态")
    expect(changes).to_contain_text("已提交")
    expect(changes).to_contain_text("已接收")
    screenshot(page, "audit-diff")
    page.set_viewport_size({"width": 375, "height": 800})
    page.reload()
    assert no_sideways_scroll(page)
    screenshot(page, "audit-diff-375")

    page.context.clear_cookies()
    page.set_viewport_size({"width": 1280, "height": 900})
    login(page, base, make_enterprise_user().username)  # no application yet: the notice is offered
    page.wait_for_url("**/portal/")
    for url in ("/membership/notice", f"/training/batch/{batch.id}"):
        page.goto(base + url)
        gap = page.evaluate(
            """() => {
                const panel = document.querySelector('.notice-text');
                const range = document.createRange();
                range.setStart(panel.firstChild, 0);
                range.setEnd(panel.firstChild, 1);
                const padding = parseFloat(getComputedStyle(panel).paddingTop);
                return range.getBoundingClientRect().top - panel.getBoundingClientRect().top - padding;
            }"""
        )
        assert gap < 12, f"{url}: the notice starts {gap}px below the panel's padding (a blank line)"
    screenshot(page, "batch-notice")
    assert page.foreign_requests == []


def test_enterprise_menu_fits_one_line_at_1280(live_app, live_server, page):
    """Seven chapters, language, messages, account and sign-out on one line of a 1280-px screen."""
    user = make_enterprise_user()
    login(page, live_server.url, user.username)
    page.wait_for_url("**/portal/**")
    expect(page.locator(".navbar a:has-text('证书补办')")).to_be_visible()
    height = page.evaluate("document.querySelector('.navbar').getBoundingClientRect().height")
    assert height < 70, f"the menu wraps: {height}px high"
    screenshot(page, "portal-menu-1280")

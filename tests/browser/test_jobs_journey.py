"""Journey: the association's administrator opens 定时任务, runs a job now, and edits a 消息模板
(an unknown placeholder is refused); on a desktop and on a phone."""

import pytest
from playwright.sync_api import expect

from factories import make_user

from .conftest import login, screenshot

pytestmark = pytest.mark.browser


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


@pytest.mark.parametrize("width", [1280, 375])
def test_admin_runs_a_job_and_edits_a_message_template(live_app, live_server, page, width):
    page.set_viewport_size({"width": width, "height": 900})
    admin = make_user("AssociationAdmin", username=f"jobs-admin-{width}")
    base = live_server.url
    login(page, base, admin.username, kind="协会用户")
    page.wait_for_url("**/backoffice/")

    page.goto(base + "/backoffice/jobs/")
    expect(page.locator("h2.page-title")).to_have_text("定时任务")
    expect(page.locator("#job-expiry_reminders")).to_contain_text("每天 08:00（北京时间）")
    assert no_sideways_scroll(page)
    screenshot(page, f"jobs-{width}")
    page.locator("#job-purge_sms_codes button:has-text('立即执行')").click()
    expect(page.locator(".alert-success")).to_contain_text("已执行")
    expect(page.locator("#job-purge_sms_codes")).to_contain_text("手动执行")
    screenshot(page, f"jobs-run-{width}")

    page.goto(base + "/backoffice/message-templates/list/")
    assert no_sideways_scroll(page)
    screenshot(page, f"message-templates-{width}")
    page.goto(base + "/backoffice/message-templates/list/?_flt_0_description=技术培训：合格")
    page.locator("a[href*='/backoffice/message-templates/edit/']").first.click()
    page.fill("#body", "{names} 考核合格 {grade}")
    page.click("button:has-text('保存')")
    expect(page.locator("#model_form")).to_contain_text("未知的占位符：{grade}")
    expect(page.locator("#body")).to_have_value("{names} 考核合格 {grade}")  # kept for correcting
    assert no_sideways_scroll(page)
    screenshot(page, f"message-template-refused-{width}")
    assert page.foreign_requests == []

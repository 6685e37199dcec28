"""导出 CSV in a browser: 消息记录 filtered by channel downloads the filtered rows (BOM, Chinese);
会员管理 and 消息记录 fit a phone."""

import pytest
from playwright.sync_api import expect

from app import db
from app.memberships import grant
from app.models import MemberTier, Notification
from factories import make_enterprise, make_user

from .conftest import login, screenshot

pytestmark = pytest.mark.browser


def test_export_from_the_messages_list(live_app, live_server, page):
    reviewer = make_user("Reviewer", username="exporter")
    enterprise = make_enterprise(name="导出旅程安防公司")
    tier = db.session.query(MemberTier).filter_by(name="会员单位").one()
    grant(enterprise.id, tier.id, 1000)
    for channel, result in (("sms", "failed"), ("inapp", "sent")):
        db.session.add(
            Notification(
                enterprise_id=enterprise.id, channel=channel, subject="审核结果通知", body="您的申请已受理", result=result
            )
        )
    db.session.commit()
    login(page, live_server.url, reviewer.username, kind="协会用户")
    page.wait_for_url("**/backoffice/")
    page.goto(f"{live_server.url}/backoffice/notifications/")
    page.select_option("select[name=channel]", "sms")
    page.click("button:has-text('筛选')")
    expect(page.locator("table.notification-log tbody tr")).to_have_count(1)
    screenshot(page, "notifications-list")
    with page.expect_download() as download_info:
        page.click("a.export-csv")
    body = open(download_info.value.path(), "rb").read()
    assert body.startswith("\ufeff".encode())
    text = body.decode("utf-8-sig")
    assert "短信" in text and "发送失败" in text and "站内消息" not in text
    assert download_info.value.suggested_filename.endswith(".csv")
    page.set_viewport_size({"width": 375, "height": 800})
    screenshot(page, "notifications-list-phone")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.goto(f"{live_server.url}/backoffice/members/list/")
    expect(page.locator("body")).to_contain_text("导出旅程安防公司")
    screenshot(page, "members-list-phone")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.set_viewport_size({"width": 1280, "height": 800})
    screenshot(page, "members-list")

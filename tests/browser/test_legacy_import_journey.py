"""Journey of the switch-over (#14): an enterprise imported from the old system activates its old account
and finds its qualification certificate under 我的证书 and its membership under 入会申请."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from app.accounts import import_legacy_accounts
from app.legacy import run_import
from conftest import last_code

from .conftest import login, screenshot

pytestmark = pytest.mark.browser

SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "legacy"


def import_samples() -> None:
    assert import_legacy_accounts((SAMPLES / "accounts.csv").read_bytes())[1] == []
    for kind in ("enterprises", "memberships", "certificates", "staff"):
        report = run_import(kind, (SAMPLES / f"{kind}.csv").read_bytes(), f"{kind}.csv")
        assert report.applied, [o.detail for o in report.refused]


def test_imported_enterprise_activates_and_finds_its_certificate_and_membership(live_app, live_server, page):
    import_samples()
    base, phone = live_server.url, "13955556789"
    # 老系统用户激活: 老系统账号 + 密码 -> 下一步 -> 手机号 + 验证码 -> 激活
    page.goto(base + "/login/")
    page.click("a:has-text('老系统用户激活')")
    page.fill("#old_account", "hfanfang")
    page.fill("#password", "OldPass88")
    page.click("button:has-text('下一步')")
    page.wait_for_url("**/activate/phone")
    page.fill("#phone", phone)
    page.click("button:has-text('获取验证码')")
    page.wait_for_selector("#sms-message.text-success")
    page.fill("#code", last_code(live_app, phone, "activate"))
    page.click("button:has-text('激活')")
    page.wait_for_url("**/login/**")
    expect(page.locator("text=激活成功")).to_be_visible()

    login(page, base, phone, "OldPass88")
    page.wait_for_url("**/portal/")
    assert page.locator("h2.page-title").inner_text() == "合肥老牌安防工程有限公司"
    screenshot(page, "legacy-import-portal")

    page.click("a.dropdown-toggle:has-text('资质管理')")
    page.click("a:has-text('我的证书')")
    page.wait_for_url("**/qualification/certificates/")
    table = page.locator("table.my-certificates")
    row = table.locator("tr", has_text="皖安协资[2026]第0042号")
    expect(row).to_contain_text("二级")
    expect(row).to_contain_text("2026-01-15 — 2029-01-14")
    expect(table).to_contain_text("皖安协会[2026]第0015号")
    expect(table).to_contain_text("皖安协培[2025]第00031号")
    expect(table).not_to_contain_text("皖安协资[2024]第0107号")  # the other imported enterprise's
    screenshot(page, "legacy-import-my-certificates")
    row.locator("a").click()
    expect(page.locator("body")).to_contain_text("从旧系统导入")
    screenshot(page, "legacy-import-certificate")

    page.goto(base + "/membership/")
    expect(page.locator(".member-card")).to_contain_text("皖安协会[2026]第0015号")
    expect(page.locator(".member-card")).to_contain_text("理事单位")
    screenshot(page, "legacy-import-membership")

    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(base + "/qualification/certificates/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(page, "legacy-import-my-certificates-phone")
    page.goto(base + "/membership/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(page, "legacy-import-membership-phone")
    assert page.foreign_requests == []

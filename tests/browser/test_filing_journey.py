"""Journey of the manual's 十三、外省企业备案: an out-of-province enterprise files (申请备案 → 填写登记表 → 提交),
the association approves, the enterprise opens 查看 → 备案证明下载 and the PDF's QR code opens the public
verification page. Screenshots of the pages (desktop and 375 px) and of the PDF's first page."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import expect

from factories import make_out_of_province_user, make_user

from .conftest import SCREENSHOTS, login, logout, screenshot

pytestmark = pytest.mark.browser


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (60, 40), "navy").save(buffer, "PNG")
    return buffer.getvalue()


def no_sideways_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), page.url


def at_phone_width(page, name: str) -> None:
    page.set_viewport_size({"width": 375, "height": 800})
    no_sideways_scroll(page)
    screenshot(page, f"{name}-phone")
    page.set_viewport_size({"width": 1280, "height": 900})


def test_out_of_province_filing_chapter(live_app, live_server, page):
    import zxingcpp

    base = live_server.url
    live_app.config["PUBLIC_BASE_URL"] = base  # the QR code must open this server's verification page
    user = make_out_of_province_user(name="南京远航安防工程有限公司")
    reviewer = make_user("Reviewer", username="reviewer-filing")

    # 1. 外省企业注册登录账号 → 点击外省企业备案 → 点击申请备案
    login(page, base, user.username)
    page.wait_for_url("**/portal/")
    nav = page.locator(".navbar")
    expect(nav).to_contain_text("外省企业备案")
    expect(nav).not_to_contain_text("入会申请")
    expect(nav).not_to_contain_text("资质管理")
    page.click(".navbar a:has-text('外省企业备案')")
    page.wait_for_url("**/filing/")
    screenshot(page, "filing-index")
    at_phone_width(page, "filing-index")
    page.click("a:has-text('申请备案')")
    page.wait_for_url("**/filing/apply")

    # 2. 填写登记表 → 点击提交
    expect(page.locator(".filing-basics")).to_contain_text("南京远航安防工程有限公司")
    page.fill("#home_qualification", "江苏省安全技术防范工程设计施工维护能力一级")
    page.fill("#home_certificate_number", "苏安协资[2025]第0108号")
    page.set_input_files(
        "#home_certificate", files=[{"name": "原籍资质证书.png", "mimeType": "image/png", "buffer": png_bytes()}]
    )
    page.fill("#person_in_charge", "周负责")
    page.fill("#person_in_charge_phone", "13955550001")
    page.fill("#projects-0-name", "合肥高新区智慧安防工程")
    page.fill("#projects-0-city", "合肥市")
    page.fill("#projects-0-contract_value", "420")
    page.fill("#projects-0-start_on", "2026-03-01")
    page.fill("#projects-0-end_on", "2026-12-31")
    page.click("button:has-text('添加项目')")
    page.fill("#projects-1-name", "芜湖港口视频监控改造")
    page.fill("#projects-1-city", "芜湖市")
    page.fill("#projects-1-contract_value", "135.5")
    page.fill("#projects-1-start_on", "2026-06-01")
    screenshot(page, "filing-form")
    at_phone_width(page, "filing-form")
    page.click("button:has-text('提交')")
    expect(page.locator(".alert-success")).to_contain_text("备案已提交")
    expect(page.locator(".filing-projects")).to_contain_text("芜湖港口视频监控改造")
    record_url = page.url
    screenshot(page, "filing-submitted")
    logout(page)

    # The association: 审核管理 → 外省企业备案审核 → 接收 → 通过
    login(page, base, reviewer.username, kind="协会用户")
    page.wait_for_url("**/backoffice/")
    page.click("a.dropdown-toggle:has-text('审核管理')")
    page.click("a:has-text('外省企业备案审核')")
    expect(page.locator("text=南京远航安防工程有限公司")).to_be_visible()
    page.click("a:has-text('审核') >> nth=-1")
    expect(page.locator("body")).to_contain_text("合肥高新区智慧安防工程")
    page.click("button:has-text('接收')")
    expect(page.locator(".alert-success")).to_contain_text("已接收")
    page.click("button:has-text('通过')")
    expect(page.locator(".alert-success")).to_contain_text("已备案")
    screenshot(page, "filing-review")
    logout(page)

    # 3. 审核通过后点击查看 → 4. 点击备案证明下载
    login(page, base, user.username)
    page.click(".navbar a:has-text('外省企业备案')")
    page.click("a:has-text('查看') >> nth=0")
    assert page.url == record_url
    expect(page.locator(".filing-certificate")).to_contain_text("皖安协备[")
    screenshot(page, "filing-detail")
    at_phone_width(page, "filing-detail")
    with page.expect_download() as download_info:
        page.click(".filing-certificate a:has-text('备案证明下载')")
    pdf = Path(download_info.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF")
    rendered = subprocess.run(
        ["pdftoppm", "-r", "110", "-f", "1", "-l", "1", "-png", "-"], input=pdf, capture_output=True, check=True
    ).stdout
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "filing-certificate-pdf.png").write_bytes(rendered)
    codes = [result.text for result in zxingcpp.read_barcodes(Image.open(io.BytesIO(rendered)))]
    assert len(codes) == 1 and codes[0].startswith(base + "/verify/")

    # The QR code opens the public verification page (signed out: no login needed).
    logout(page)
    page.goto(codes[0])
    expect(page.locator(".verify-verdict")).to_contain_text("本证书有效")
    expect(page.locator("body")).to_contain_text("南京远航安防工程有限公司")
    screenshot(page, "verify-page")
    at_phone_width(page, "verify-page")

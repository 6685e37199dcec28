"""Journeys of the manual's account chapters: 账号注册, 账号登录, 老系统用户激活, 账户管理 (修改密码)."""

import pytest
from playwright.sync_api import expect

from app.accounts import import_legacy_accounts
from conftest import last_code
from factories import PASSWORD, credit_code, make_enterprise_user

from .conftest import login, logout, screenshot

pytestmark = pytest.mark.browser


def get_code(page, app, phone: str, purpose: str) -> str:
    """点击获取验证码, see the countdown start, and read the code the SMS outbox received."""
    page.click("button:has-text('获取验证码')")
    page.wait_for_selector("#sms-message.text-success")
    assert "秒后重新获取" in page.locator(".sms-button").inner_text()
    assert page.locator(".sms-button").is_disabled()
    return last_code(app, phone, purpose)


def test_registration_then_login(live_app, live_server, page):
    base, phone = live_server.url, "13955551234"
    page.goto(base + "/login/")
    page.click("a:has-text('注册')")
    page.wait_for_url("**/register/")
    # 输入手机号 -> 点击获取验证码 -> 输入获取的验证码 -> 点击下一步
    page.fill("#phone", phone)
    code = get_code(page, live_app, phone, "register")
    page.fill("#code", code)
    screenshot(page, "register-step1")
    page.click("button:has-text('下一步')")
    # 输入密码 -> 确认密码 -> 点击下一步
    page.wait_for_url("**/register/password")
    page.fill("#password", "short")
    page.fill("#confirm", "short")
    page.click("button:has-text('下一步')")
    expect(page.locator("text=密码须为6–18位")).to_be_visible()
    page.fill("#password", "anhui2026")
    page.fill("#confirm", "anhui2026")
    screenshot(page, "register-step2")
    page.click("button:has-text('下一步')")
    # 输入联系人 -> 企业名称 -> 统一社会信用代码 -> 企业固话 -> 企业地区 -> 点击提交注册
    page.wait_for_url("**/register/enterprise")
    page.wait_for_selector(".region-cascade[data-loaded=true]")
    page.fill("#contact_person", "孙八")
    page.fill("#name", "安庆平安技防工程有限公司")
    page.fill("#credit_code", "91340800MA0000000X")  # wrong check digit first
    page.fill("#landline", "0556-5551234")
    page.select_option("#province", label="安徽省")
    page.select_option("#city", label="安庆市")
    page.select_option("#district", label="迎江区")
    page.click("button:has-text('提交注册')")
    expect(page.locator("text=校验位")).to_be_visible()
    page.fill("#credit_code", credit_code(8801, region="340802"))
    expect(page.locator("#district")).to_have_value("340802")  # the cascade kept the choice
    screenshot(page, "register-step3")
    page.click("button:has-text('提交注册')")
    page.wait_for_url("**/login/**")
    expect(page.locator("text=注册成功")).to_be_visible()
    screenshot(page, "login-after-register")

    login(page, base, phone, "anhui2026")
    page.wait_for_url("**/portal/")
    assert page.locator("h2.page-title").inner_text() == "安庆平安技防工程有限公司"
    expect(page.locator("text=安徽省 安庆市 迎江区")).to_be_visible()
    assert page.foreign_requests == []


def test_wrong_kind_and_password_give_one_message(live_app, live_server, page):
    user = make_enterprise_user()
    login(page, live_server.url, user.username, PASSWORD, kind="协会用户")
    expect(page.locator("text=账号或密码错误")).to_be_visible()
    login(page, live_server.url, user.username, "wrong-pass1")
    expect(page.locator("text=账号或密码错误")).to_be_visible()
    screenshot(page, "login-failed")


def test_legacy_activation(live_app, live_server, page):
    import hashlib

    digest = hashlib.md5(b"laomima123").hexdigest()
    code_value = credit_code(8802)
    header = "old_account,password_hash,hash_scheme,salt,enterprise_name,credit_code,region_code,contact_person,mobile,landline,address,legal_person"
    line = f"wh_anfang,{digest},md5,,芜湖老牌安防有限公司,{code_value},340202,周九,,0553-1234567,芜湖市镜湖区,周九"
    assert import_legacy_accounts(f"{header}\n{line}\n".encode())[0] == 1
    base, phone = live_server.url, "13955554321"

    page.goto(base + "/login/")
    page.click("a:has-text('老系统用户激活')")
    page.fill("#old_account", "wh_anfang")
    page.fill("#password", "laomima123")
    screenshot(page, "activate-step1")
    page.click("button:has-text('下一步')")
    page.wait_for_url("**/activate/phone")
    page.fill("#phone", phone)
    page.fill("#code", get_code(page, live_app, phone, "activate"))
    screenshot(page, "activate-step2")
    page.click("button:has-text('激活')")
    page.wait_for_url("**/login/**")
    expect(page.locator("text=激活成功")).to_be_visible()

    login(page, base, phone, "laomima123")
    page.wait_for_url("**/portal/")
    assert page.locator("h2.page-title").inner_text() == "芜湖老牌安防有限公司"
    assert page.foreign_requests == []


def test_change_password(live_app, live_server, page):
    user = make_enterprise_user(name="马鞍山示例安防有限公司")
    base = live_server.url
    login(page, base, user.username, PASSWORD)
    page.wait_for_url("**/portal/")
    # 点击账户管理 -> 修改密码 -> 输入原密码、新密码、确认新密码 -> 点击保存
    page.click("a.dropdown-toggle:has-text('账户管理')")
    page.click("a:has-text('修改密码')")
    page.wait_for_url("**/account/password")
    page.fill("#old_password", PASSWORD)
    page.fill("#password", "newSecret42")
    page.fill("#confirm", "newSecret42")
    page.click("button:has-text('保存')")
    expect(page.locator("text=密码已修改")).to_be_visible()
    screenshot(page, "account-password")
    page.click("a.dropdown-toggle:has-text('账户管理')")
    page.click("a:has-text('修改信息')")
    page.wait_for_url("**/account/info")
    screenshot(page, "account-info")
    logout(page)
    login(page, base, user.username, "newSecret42")
    page.wait_for_url("**/portal/")

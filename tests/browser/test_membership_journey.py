"""Journey of the manual's 入会申请 chapter: enterprise applies, reviewer approves, enterprise pays,
reviewer confirms, enterprise sees its member number."""

import pytest
from playwright.sync_api import expect
from test_uploads import image_bytes

from app import db
from app.models import Setting
from factories import make_enterprise_user, make_user

from .conftest import login, logout, screenshot

pytestmark = pytest.mark.browser


def test_membership_chapter(live_app, live_server, page, tmp_path):
    # The reading time is configuration; 3 s keeps the journey short while exercising the lock.
    db.session.get(Setting, "membership.notice_seconds").value = "3"
    db.session.commit()
    user = make_enterprise_user(name="宿州安心技防有限公司", legal_person="赵法人", registered_capital=600)
    reviewer = make_user("Reviewer", username="reviewer1")
    base = live_server.url

    login(page, base, user.username)
    page.wait_for_url("**/portal/")
    page.click("a:has-text('入会申请')")
    # 1. 点击查看入会须知
    page.click("a:has-text('查看入会须知')")
    page.wait_for_url("**/membership/notice")
    checkbox = page.locator("#notice-read")
    assert checkbox.is_disabled()
    expect(page.locator("#notice-countdown")).to_contain_text("请继续阅读")
    screenshot(page, "membership-notice")
    page.go_back()  # leaving is blocked while the notice must be read
    assert page.url.endswith("/membership/notice")
    # 2. 勾选已读入会须知 (after the reading time)
    expect(checkbox).to_be_enabled(timeout=6000)
    checkbox.check()
    # 3. 点击入会申请按钮
    page.click("#notice-apply")
    page.wait_for_url("**/membership/apply")
    # 4. 填写入会申请表 -> 点击提交申请
    page.select_option("#tier", index=1)
    page.fill("#employees", "80")
    page.fill("#technical_staff", "20")
    page.fill("#main_business", "安防工程设计、施工、维护")
    page.fill("#introduction", "本公司专注于安全技术防范工程。")
    screenshot(page, "membership-form")
    page.click("button:has-text('提交申请')")
    expect(page.locator("text=申请已提交")).to_be_visible()
    record_url = page.url
    expect(page.locator(".timeline")).to_contain_text("已提交")
    screenshot(page, "membership-submitted")
    logout(page)

    # The reviewer approves.
    login(page, base, reviewer.username, kind="协会用户")
    page.wait_for_url("**/backoffice/")
    page.click("a.dropdown-toggle:has-text('审核管理')")
    page.click("a:has-text('入会申请审核')")
    expect(page.locator("text=宿州安心技防有限公司")).to_be_visible()
    screenshot(page, "review-queue")
    page.click("a:has-text('审核')  >> nth=-1")
    page.click("button:has-text('接收')")
    expect(page.locator(".alert-success")).to_contain_text("已接收")
    page.click("button:has-text('通过')")
    expect(page.locator(".alert-success")).to_contain_text("已通过")
    screenshot(page, "review-detail")
    logout(page)

    # 待协会审核通过后，选择证书发放方式 -> 点击去缴费; 上传转账截图 -> 输入联系手机号 -> 点击立即提交
    login(page, base, user.username)
    # 站内消息 on every state change (F17): submitted, received, approved
    expect(page.locator(".unread-badge")).to_have_text("3")
    page.goto(record_url)
    page.check("input[name=delivery_method][value=mail]")
    page.fill("#mail_recipient", "钱收件")
    page.fill("#mail_phone", "13812340000")
    page.fill("#mail_address", "宿州市埇桥区示例路8号")
    screenshot(page, "membership-delivery")
    page.click("button:has-text('去缴费')")
    page.wait_for_url("**/pay")
    screenshot_file = tmp_path / "转账截图.png"
    screenshot_file.write_bytes(image_bytes())
    page.set_input_files("#screenshot", str(screenshot_file))
    page.fill("#payment_phone", "13812340000")
    screenshot(page, "membership-pay")
    page.click("button:has-text('立即提交')")
    expect(page.locator("text=缴费信息已提交")).to_be_visible()
    logout(page)

    # 缴费成功后，等待协会审核，审核通过后即入会成功
    login(page, base, reviewer.username, kind="协会用户")
    page.goto(base + "/backoffice/review/membership/")
    page.click("a:has-text('审核') >> nth=-1")
    page.click("button:has-text('确认缴费')")
    expect(page.locator(".alert-success")).to_contain_text("入会成功")
    logout(page)

    login(page, base, user.username)
    page.goto(base + "/membership/")
    expect(page.locator(".member-card .member-number")).to_contain_text("皖安协会[")
    screenshot(page, "membership-member")
    page.click("a.messages-link")
    expect(page.locator(".messages")).to_contain_text("入会成功")
    screenshot(page, "messages")
    assert page.foreign_requests == []

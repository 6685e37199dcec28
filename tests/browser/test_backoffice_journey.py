"""Journey: an administrator creates an association user, who signs in and sees the back office."""

import pytest
from playwright.sync_api import expect

from factories import make_enterprise_user, make_user

from .conftest import login, logout, screenshot

pytestmark = pytest.mark.browser


def test_admin_creates_reviewer_who_sees_back_office(live_app, live_server, page):
    admin = make_user("Admin", username="sysadmin")
    make_enterprise_user(name="合肥示例安防工程有限公司")
    base = live_server.url

    login(page, base, admin.username, kind="协会用户")
    page.wait_for_url("**/backoffice/")
    page.goto(base + "/users/add")
    screenshot(page, "admin-add-user")
    page.fill("#first_name", "静")
    page.fill("#last_name", "张")
    page.fill("#username", "zhangjing")
    page.fill("#email", "zhangjing@association.example")
    page.select_option("#roles", label="协会审核员")
    page.fill("#password", "Review2026ok")
    page.fill("#conf_password", "Review2026ok")
    page.click("button:has-text('保存')")
    screenshot(page, "admin-add-user-saved")
    page.wait_for_selector("text=记录已添加")
    logout(page)

    login(page, base, "zhangjing", "Review2026ok", kind="协会用户")
    page.wait_for_url("**/backoffice/")
    assert page.locator("h2.page-title").inner_text() == "协会管理后台"
    page.click("a.dropdown-toggle:has-text('企业管理')")
    expect(page.locator("a:has-text('企业档案')")).to_be_visible()
    expect(page.locator(".waiting-panel")).to_be_visible()  # 工作台 shows the work waiting
    screenshot(page, "backoffice-home")

    page.click("a:has-text('企业档案')")
    page.wait_for_url("**/backoffice/enterprises/list/**")
    screenshot(page, "backoffice-enterprises")
    expect(page.locator("text=合肥示例安防工程有限公司")).to_be_visible()
    assert page.foreign_requests == []


def test_enterprise_user_sees_portal(live_app, live_server, page):
    user = make_enterprise_user(name="芜湖示例安防科技有限公司")
    login(page, live_server.url, user.username)
    page.wait_for_url("**/portal/")
    assert page.locator("h2.page-title").inner_text() == "芜湖示例安防科技有限公司"
    expect(page.locator("text=企业基本信息")).to_be_visible()
    assert page.locator("text=工作台").count() == 0
    screenshot(page, "portal-home")
    page.goto(live_server.url + "/login/")  # signed in: login page sends the user home
    logout(page)
    screenshot(page, "login")
    assert page.foreign_requests == []


def test_workflow_diagrams_render(live_app, live_server, page):
    admin = make_user("AssociationAdmin", username="xiehui")
    login(page, live_server.url, admin.username, kind="协会用户")
    page.wait_for_url("**/backoffice/")
    page.goto(live_server.url + "/backoffice/workflows/")
    page.wait_for_selector("body[data-diagrams=rendered]")
    membership = page.locator(".panel", has=page.locator(".panel-heading", has_text="入会申请")).first
    expect(membership.locator(".workflow-diagram svg")).to_be_visible()
    expect(membership.locator(".workflow-diagram svg")).to_contain_text("确认缴费")
    expect(page.locator("body")).not_to_contain_text("can_receive")
    screenshot(page, "workflow-diagram")
    assert page.foreign_requests == []

"""Journey of the manual's 技术培训 chapter: 1-1 新增 a technical staff member, 1-2 批量报名 by the 报名表."""

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from factories import make_batch, make_enterprise_user, person

from .conftest import login, screenshot

pytestmark = pytest.mark.browser


def test_add_staff_and_batch_sign_up(live_app, live_server, page, tmp_path):
    user = make_enterprise_user(name="池州明安技防有限公司")
    batch = make_batch(
        name="2026年第二期安防技术培训", notice="一、报名对象：企业在职技术人员。\n二、请使用报名表模板批量报名。"
    )
    base = live_server.url
    login(page, base, user.username)
    page.wait_for_url("**/portal/")

    # 1-1: 点击技术培训 -> 点击新增 -> 输入技术人员信息 -> 点击确定
    page.click("a:has-text('技术培训')")
    page.click("a:has-text('新增')")
    page.wait_for_url("**/training/staff/new")
    someone = person(300)
    page.fill("#name", someone["name"])
    page.check("input[name=gender][value=male]" if someone["gender"] == "男" else "input[name=gender][value=female]")
    page.fill("#id_number", someone["id_number"])
    page.fill("#mobile", someone["mobile"])
    page.select_option("#education", "本科")
    page.fill("#major", "电子信息")
    page.select_option("#title", "工程师")
    page.select_option("#position", "项目经理")
    page.fill("#insurance_months", "36")
    screenshot(page, "training-add-staff")
    page.click("button[type=submit]:has-text('确定')")
    expect(page.locator("text=技术人员信息已保存")).to_be_visible()
    screenshot(page, "training-staff-detail")

    # 1-2: 点击技术培训 -> 点击批量报名 -> 点击报名表下载 -> 上传报名表 -> 点击确定
    page.click("a:has-text('技术培训')")
    page.click("a:has-text('批量报名')")
    expect(page.locator("text=报名须知")).to_be_visible()
    screenshot(page, "training-batch")
    with page.expect_download() as download_info:
        page.click("a:has-text('报名表下载')")
    template_path = tmp_path / "报名表.xlsx"
    download_info.value.save_as(template_path)
    book = load_workbook(template_path)
    sheet = book["报名表"]
    keys = ["name", "gender", "id_number", "mobile", "education", "major", "title", "position", "insurance_months"]
    rows = [person(310 + i) for i in range(3)]
    rows[1]["mobile"] = "12345"  # first attempt: one bad cell
    for r, row in enumerate(rows, start=2):
        for c, key in enumerate(keys, start=1):
            sheet.cell(row=r, column=c, value=row[key])
    book.save(template_path)
    page.set_input_files("#workbook", str(template_path))
    page.click("button[type=submit]:has-text('确定')")
    expect(page.locator("text=本次未导入任何数据")).to_be_visible()
    expect(page.locator(".upload-errors")).to_contain_text("手机号")
    screenshot(page, "training-upload-errors")

    sheet.cell(row=3, column=4, value="13912345670")
    book.save(template_path)
    page.click("a:has-text('返回培训批次')")
    page.set_input_files("#workbook", str(template_path))
    page.click("button[type=submit]:has-text('确定')")
    expect(page.locator("text=已报名 3 人")).to_be_visible()
    expect(page.locator(".staff-table")).to_contain_text(rows[2]["name"])
    screenshot(page, "training-after-upload")
    # The paged staff list with its one sign-up form fits a phone: the table scrolls inside its box.
    expect(page.locator("form.staff-signup-form")).to_have_count(1)
    page.set_viewport_size({"width": 375, "height": 800})
    screenshot(page, "training-staff-list-phone")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.set_viewport_size({"width": 1280, "height": 900})
    assert batch.id and page.foreign_requests == []

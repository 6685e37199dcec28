"""Journeys of the manual's 十、信息变更 and 十一、证书补办, in its words:

信息变更: 点击信息变更 → 点击申请变更 → 修改信息 → 点击提交申请, 等待协会审核; the enterprise then sees its new
name and the change history. 证书补办: 点击证书补办 → 点击挂失申请 → 填写挂失申请资料 → 点击提交申请; after 通过
the reissued copy and 证书发放方式. Every page at desktop width and on a 375-px phone (no sideways scroll).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from app import db
from app.models import Certificate
from factories import make_certificate, make_enterprise_user

from .conftest import login
from .test_qualification_journey import DESKTOP, association_user, look, review, upload_file

pytestmark = pytest.mark.browser


@pytest.fixture
def desk(browser, live_server):
    """The association's reviewer in a browser window of their own, beside the enterprise."""
    context = browser.new_context(locale="zh-CN", viewport=DESKTOP)
    window = context.new_page()
    window.set_default_timeout(10_000)
    yield window
    context.close()


def test_name_change_and_loss_report(live_app, live_server, page, desk, tmp_path):
    user = make_enterprise_user(name="合肥旧名安防工程有限公司", legal_person="周法人", registered_capital=800)
    user.enterprise.address = None  # an empty profile item, filled through 信息变更
    db.session.commit()
    certificate = make_certificate(user.enterprise, "L3")
    association_user("Reviewer", "reviewer-change", "吴审核")
    base = live_server.url

    login(page, base, user.username)
    page.wait_for_url("**/portal/")
    expect(page.locator("a.profile-empty").first).to_contain_text("信息变更")
    look(page, "change-portal-home")

    # 十、1. 点击信息变更 → 点击申请变更
    page.click(".navbar a:has-text('信息变更')")
    page.wait_for_url("**/change/")
    look(page, "change-index")
    page.click("a:has-text('申请变更')")
    page.wait_for_url("**/change/apply")
    expect(page.locator("#credit_code")).to_be_disabled()
    # 2. 修改信息 → 点击提交申请
    page.fill("#name", "合肥新名安防科技有限公司")
    page.fill("#address", "合肥市蜀山区长江西路 100 号")
    page.fill("#explanation", "企业更名并迁址，已取得新营业执照。")
    page.click("button:has-text('提交申请')")
    expect(page.locator(".alert-danger")).to_contain_text("请上传：变更后的营业执照")
    page.set_input_files("input[name=proof_0]", upload_file(tmp_path, "新营业执照.png"))
    look(page, "change-form")
    page.click("button:has-text('提交申请')")
    expect(page.locator(".alert-success")).to_contain_text("变更申请已提交")
    expect(page.locator("table.change-fields")).to_contain_text("合肥新名安防科技有限公司")
    look(page, "change-submitted")

    # 等待协会审核: the reviewer receives and approves in their own window.
    login(desk, base, "reviewer-change", kind="协会用户")
    desk.wait_for_url("**/backoffice/")
    review(desk, base, "change", "合肥旧名安防工程有限公司", ("接收", None), ("通过", None), shots="change-review")

    # The enterprise sees its new name, the history and the offer of 证书补办.
    page.reload()
    expect(page.locator(".change-outcome")).to_be_visible()
    expect(page.locator(".change-reissue")).to_contain_text(certificate.number)
    look(page, "change-approved")
    page.click(".navbar a:has-text('信息变更')")
    history = page.locator(".change-history")
    expect(history).to_contain_text("合肥旧名安防工程有限公司")
    expect(history).to_contain_text("合肥新名安防科技有限公司")
    expect(history).to_contain_text("吴审核")
    look(page, "change-history")
    page.goto(base + "/portal/")
    expect(page.locator("h2.page-title")).to_have_text("合肥新名安防科技有限公司")

    # 十一、1. 点击证书补办 → 点击挂失申请
    page.click(".navbar a:has-text('证书补办')")
    page.wait_for_url("**/replacement/")
    look(page, "replacement-index")
    page.click("a:has-text('挂失申请')")
    page.wait_for_url("**/replacement/apply")
    # 2. 填写挂失申请资料 → 点击提交申请
    page.select_option("#certificate", str(certificate.id))
    page.check("input[name=copy][value=original]")
    page.check("input[name=reason][value=lost]")
    page.fill("#statement", "证书正本在迁址途中遗失，已于《安徽日报》刊登遗失声明。")
    page.set_input_files("#proof", upload_file(tmp_path, "遗失声明.png"))
    look(page, "replacement-form")
    page.click("button:has-text('提交申请')")
    expect(page.locator(".alert-success")).to_contain_text("挂失申请已提交")
    look(page, "replacement-submitted")

    review(
        desk,
        base,
        "replacement",
        "合肥新名安防科技有限公司",
        ("接收", None),
        ("通过", None),
        shots="replacement-review",
    )

    # 证书发放方式 as in 入会申请; the reissue is free by default, so 确认 completes it.
    page.reload()
    expect(page.locator(".replacement-outcome")).to_contain_text("正本第 2 份已补发")
    page.check("input[name=delivery_method][value=pickup]")
    look(page, "replacement-delivery")
    page.click(".payment-panel button:has-text('确认')")
    expect(page.locator(".alert-success")).to_contain_text("发放方式已确认")
    expect(page.locator("h2.page-title")).to_contain_text("已补发")
    look(page, "replacement-done")
    db.session.expire_all()
    reissued = db.session.get(Certificate, certificate.id)
    assert (reissued.copies_original, reissued.status, reissued.holder_name) == (2, "valid", "合肥新名安防科技有限公司")
    page.goto(f"{base}/qualification/certificates/{certificate.id}")
    expect(page.locator("table.certificate-history")).to_contain_text("补发")
    expect(page.locator("table.certificate-history")).to_contain_text("需换发")
    look(page, "replacement-certificate-history")

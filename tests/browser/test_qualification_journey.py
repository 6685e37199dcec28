"""Journeys of the manual's 资质申请 … 八、到期换证 chapters, with every label as the manual words it.

A new enterprise registers through the portal, adds its staff under 技术培训, goes through 资质申请 →
接收 → 退回 → 修改资料 → 提交申请 → 通过 and holds a 三级 certificate; it then 晋级 to 二级, passes 年审 and
到期换证. A second journey follows chapter 八 (到期换证) click by click. Every portal page is also looked
at on a 375-px phone, where it must not scroll sideways; the screenshots land in build/screenshots/.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from dateutil.relativedelta import relativedelta
from playwright.sync_api import expect
from sqlalchemy import select
from test_uploads import image_bytes

from app import db
from app.models import Certificate, Enterprise, QualificationApplication, QualificationProject, TechnicalStaff
from app.qualification import today
from factories import credit_code, make_certificate, make_enterprise_user, make_staff, make_user, person

from .conftest import login, screenshot
from .test_accounts_journey import get_code

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}
# Latin words a Chinese page may show: file types, standards, units and the site's own contacts.
ALLOWED_LATIN = {"ISO", "PDF", "JPG", "PNG", "CSV", "MB", "QQ", "Powered", "by"}


# The elements sticking out on the right, to say what makes a page scroll sideways.
WIDE_ELEMENTS = """() => Array.from(document.querySelectorAll('body *'))
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
  .filter(e => !e.parentElement.closest('.table-responsive'))
  .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""


def assert_chinese(page) -> None:
    """Every visible word Chinese: no None/True, no English, no raw codes such as L1 or qualification_new."""
    # The menu bar is every page's frame, and other features add entries to it while they are built;
    # what is checked here is what the qualification pages show.
    text = page.locator("body").inner_text().replace(page.locator(".navbar").first.inner_text(), "")
    # Data, not words: credit codes and ID numbers (18 characters), e-mail addresses, file names.
    text = re.sub(r"\b[0-9A-Z]{18}\b|[\w.]+@[\w.]+|\S+\.(?:png|jpg|pdf)\b", "", text)
    assert not re.search(r"\b(None|True|False|nan)\b", text), text
    latin = {word for word in re.findall(r"[A-Za-z_][A-Za-z_0-9]+", text) if word not in ALLOWED_LATIN}
    assert not latin, f"{page.url}: {sorted(latin)}"


def look(page, name: str, portal: bool = True) -> None:
    """Screenshot at desktop width and on a phone; a portal page must not scroll sideways on the phone."""
    page.wait_for_load_state()
    screenshot(page, name)
    assert_chinese(page)
    page.set_viewport_size(PHONE)
    try:
        width = page.evaluate("document.documentElement.scrollWidth")
        screenshot(page, f"{name}-phone")
        if portal:
            assert width <= PHONE["width"], f"{name}: {width}px wide on a phone, {page.evaluate(WIDE_ELEMENTS)}"
    finally:
        page.set_viewport_size(DESKTOP)


def association_user(role: str, username: str, name: str):
    user = make_user(role, username=username)
    user.first_name = name  # the header greets staff by name
    db.session.commit()
    return user


def menu(page, entry: str, category: str = "资质管理") -> None:
    page.click(f"a.dropdown-toggle:has-text('{category}')")
    page.click(f"ul.dropdown-menu a:has-text('{entry}')")


def upload_file(tmp_path, name: str) -> str:
    path = tmp_path / name
    path.write_bytes(image_bytes())
    return str(path)


def choose_staff(page, names: list[str]) -> None:
    """点击添加 → 选择技术人员 (the picker's checkboxes) → 选择."""
    page.click("a.add-staff:has-text('添加')")
    page.wait_for_url("**/staff/pick")
    for name in names:
        page.check(f"tr:has(label:text-is('{name}')) input[name=staff_ids]")
    page.click("button:has-text('选择')")
    expect(page.locator(".alert-success")).to_contain_text(f"已添加 {len(names)} 人")


def upload_staff_documents(page, tmp_path, names: list[str]) -> None:
    """上传技术人员资料 → 点击保存, for each chosen person."""
    for name in names:
        row = page.locator(f"table.chosen-staff tr:has(td:text-is('{name}'))")
        row.locator("input[type=file]").set_input_files(upload_file(tmp_path, f"{name}资料.png"))
        row.locator("button:has-text('保存')").click()
        expect(page.locator(".alert-success")).to_contain_text("已保存")
        expect(page.locator(f"table.chosen-staff tr:has(td:text-is('{name}')) .label-success")).to_be_visible()


def upload_materials(page, tmp_path) -> None:
    """按要求上传评审材料: every slot of the level and type."""
    for slot in page.locator(".material-slot input[type=file]").all():
        slot.set_input_files(upload_file(tmp_path, "评审材料.png"))


def enter_project(page, tmp_path, name: str) -> None:
    """A completed project with its acceptance proof, entered on the 评审材料 page."""
    page.fill("#name", name)
    page.fill("#client", "合肥市蜀山区公安分局")
    page.fill("#contract_value", "80")
    page.fill("#completed_on", (today() - dt.timedelta(days=90)).isoformat())
    page.set_input_files("#proof", upload_file(tmp_path, "验收证明.png"))
    page.click("button:has-text('添加项目')")
    expect(page.locator(".projects-panel")).to_contain_text(name)


def add_projects(application_id: int, count: int, value: int) -> None:
    """Completed projects written straight into the draft: the 二级 thresholds need five of them,
    which the browser journey has already shown how to enter one by one."""
    record = db.session.get(QualificationApplication, application_id)
    for index in range(count):
        record.projects.append(
            QualificationProject(
                enterprise_id=record.enterprise_id,
                name=f"二级业绩工程{index + 1}",
                client="合肥市公安局",
                contract_value=Decimal(value),
                completed_on=today() - dt.timedelta(days=60 + index),
            )
        )
    db.session.commit()


def application_id(page) -> int:
    return int(re.search(r"/(\d+)/(?:staff|materials|basic)", page.url).group(1))


def review(page, base: str, kind: str, enterprise: str, *actions: tuple[str, str | None], shots: str = "") -> None:
    """The reviewer opens the type's queue and acts on the enterprise's application."""
    page.goto(f"{base}/backoffice/review/{kind}/")
    expect(page.locator("table.review-queue")).to_contain_text(enterprise)
    if shots:
        look(page, f"{shots}-queue", portal=False)
    page.click(f"table.review-queue tr:has-text('{enterprise}') a:has-text('审核')")
    if shots:
        look(page, f"{shots}-detail", portal=False)
    for label, comment in actions:
        if comment:
            page.fill("#comment", comment)
        page.click(f".review-form button:has-text('{label}')")
        expect(page.locator(".alert-success")).to_be_visible()


@pytest.fixture
def desk(browser, live_server):
    """The association's reviewer in a browser window of their own, signed in beside the enterprise."""
    context = browser.new_context(locale="zh-CN", viewport=DESKTOP)
    desk = context.new_page()
    desk.set_default_timeout(10_000)
    yield desk
    context.close()



def select_all_staff(page) -> None:
    """选择 every person offered: the page's script (which ticks the rows) runs once the page has loaded."""
    page.wait_for_url("**/staff/pick")
    page.wait_for_load_state("load")
    page.check("#select-all")
    expect(page.locator("tbody input[type=checkbox]:not(:checked)")).to_have_count(0)

def test_qualification_life_cycle(live_app, live_server, page, desk, tmp_path):
    base, phone = live_server.url, "13966660001"
    reviewer = association_user("Reviewer", "reviewer1", "李审核")
    login(desk, base, reviewer.username, kind="协会用户")
    desk.wait_for_url("**/backoffice/")

    # 账号注册: a new enterprise through the portal (the chapter's own journey checks every message).
    page.goto(base + "/register/")
    page.fill("#phone", phone)
    page.fill("#code", get_code(page, live_app, phone, "register"))
    page.click("button:has-text('下一步')")
    page.fill("#password", "anhui2026")
    page.fill("#confirm", "anhui2026")
    page.click("button:has-text('下一步')")
    page.wait_for_selector(".region-cascade[data-loaded=true]")
    page.fill("#contact_person", "周经理")
    page.fill("#name", "合肥守望安防科技有限公司")
    page.fill("#credit_code", credit_code(8802, region="340104"))
    page.fill("#landline", "0551-65550001")
    page.select_option("#province", label="安徽省")
    page.select_option("#city", label="合肥市")
    page.select_option("#district", label="蜀山区")
    page.click("button:has-text('提交注册')")
    page.wait_for_url("**/login/**")
    enterprise = db.session.scalar(select(Enterprise).where(Enterprise.name == "合肥守望安防科技有限公司"))
    # Registration asks no registered capital; the profile carries it (信息变更 is its own chapter).
    enterprise.registered_capital = 100
    db.session.commit()

    # 技术培训 1-1: 点击技术培训 → 点击新增 → 输入技术人员信息 → 点击确定 (two people in the browser,
    # three more registered by factories to keep the journey short: 三级 needs five).
    login(page, base, phone, "anhui2026")
    page.wait_for_url("**/portal/")
    names = []
    for seq in (701, 702):
        someone = person(seq)
        page.click("a:has-text('技术培训')")
        page.click("a:has-text('新增')")
        page.fill("#name", someone["name"])
        page.check(f"input[name=gender][value={'male' if someone['gender'] == '男' else 'female'}]")
        page.fill("#id_number", someone["id_number"])
        page.fill("#mobile", someone["mobile"])
        page.select_option("#education", "本科")
        page.fill("#major", "电子信息")
        page.select_option("#title", "工程师")
        page.select_option("#position", "项目经理")
        page.fill("#insurance_months", "36")
        page.click("button[type=submit]:has-text('确定')")
        expect(page.locator("text=技术人员信息已保存")).to_be_visible()
        names.append(someone["name"])
    names += [make_staff(enterprise, seq).name for seq in (703, 704, 705)]

    # 资质申请 1: 点击资质申请 → 点击下一步 (基本信息 read only, the level chosen).
    menu(page, "资质申请")
    expect(page.locator(".basic-note")).to_contain_text("如若信息错误可先进行信息变更操作")
    page.check("label:has-text('三级') input")
    look(page, "qualification-basic")
    page.click("button:has-text('下一步')")
    page.wait_for_url("**/staff")
    new_id = application_id(page)
    hint = page.locator(".qualification-hint")
    expect(hint.locator("li.unmet")).to_have_count(2)  # staff and completed projects
    look(page, "qualification-staff-empty")

    # 2-3: 点击添加 → 选择技术人员 → 上传技术人员资料 → 点击保存 (four people first: the hint says one is missing)
    page.click("a.add-staff:has-text('添加')")
    page.wait_for_url("**/staff/pick")
    look(page, "qualification-pick")
    page.goto(f"{base}/qualification/new/{new_id}/staff")
    choose_staff(page, names[:4])
    expect(hint.locator("li.unmet").first).to_contain_text("现有 4，要求 5，还差 1")
    look(page, "qualification-hint-unmet")
    choose_staff(page, names[4:])
    upload_staff_documents(page, tmp_path, names)
    expect(hint.locator("li.met").first).to_contain_text("技术人员不少于 5 人")
    look(page, "qualification-staff")

    # 4: 点击进入下一步 — 5: 按要求上传评审材料 → 点击提交申请 (first without the 工程业绩: refused, listed).
    page.click("a.next-step:has-text('下一步')")
    page.wait_for_url("**/materials")
    look(page, "qualification-materials")
    upload_materials(page, tmp_path)
    page.click("button:has-text('提交申请')")
    expect(page.locator(".alert-danger")).to_contain_text("近2年完成工程")
    enter_project(page, tmp_path, "蜀山区视频监控改造工程")
    expect(hint.locator("li.unmet")).to_have_count(0)
    look(page, "qualification-hint-met")
    page.click("button:has-text('提交申请')")
    expect(page.locator(".alert-success")).to_contain_text("申请已提交")
    expect(page.locator(".timeline")).to_contain_text("已提交")
    look(page, "qualification-submitted")

    # The association: 接收 → 退回 with the reason.
    review(
        desk,
        base,
        "qualification_new",
        "合肥守望安防科技有限公司",
        ("接收", None),
        ("退回", "营业执照副本不清晰，请重新上传"),
        shots="review-qualification",
    )

    # 6: 如果资料填写错误点击修改资料 → fixes → 提交申请.
    page.goto(f"{base}/qualification/new/{new_id}")
    expect(page.locator(".timeline")).to_contain_text("营业执照副本不清晰")
    look(page, "qualification-returned")
    page.click("a:has-text('修改资料')")
    page.click("button:has-text('下一步')")
    page.click("a.next-step:has-text('下一步')")
    page.set_input_files("#material_business_licence", upload_file(tmp_path, "营业执照（清晰）.png"))
    page.click("button:has-text('提交申请')")
    expect(page.locator(".alert-success")).to_contain_text("申请已提交")
    review(desk, base, "qualification_new", "合肥守望安防科技有限公司", ("通过", None))

    # 审核通过后即可获得资质等级证书: 我的证书 shows the 三级 certificate.
    menu(page, "我的证书")
    row = page.locator("table.my-certificates tbody tr").first
    expect(row).to_contain_text("三级")
    expect(row.locator(".certificate-status")).to_have_text("有效")
    look(page, "qualification-certificates")
    row.locator("a:has-text('查看')").click()
    look(page, "qualification-certificate")
    # 资质申请 is only for an enterprise without a valid certificate: the page says why before any step.
    menu(page, "资质申请")
    expect(page.locator(".eligibility")).to_contain_text("贵单位已持有有效的资质证书")
    look(page, "qualification-not-eligible")

    # 六、资质晋级 to 二级. What 二级 asks beyond 三级 is set up by factories: registered capital 600,
    # ten qualified staff among them a 高级工程师, and five completed projects worth 1,200 (10k CNY).
    enterprise = db.session.get(Enterprise, enterprise.id)
    enterprise.registered_capital = 600
    db.session.commit()
    senior = make_staff(enterprise, 706, title="高级工程师", position="技术负责人").name
    names += [senior] + [make_staff(enterprise, seq).name for seq in (707, 708, 709, 710)]
    menu(page, "资质晋级")
    expect(page.locator(".held-certificate")).to_contain_text("三级")
    page.check("label:has-text('二级') input")
    look(page, "upgrade-basic")
    page.click("button:has-text('下一步')")
    page.wait_for_url("**/staff")
    upgrade_id = application_id(page)
    page.click("a.add-staff:has-text('添加')")
    select_all_staff(page)
    page.click("button:has-text('选择')")
    expect(page.locator(".alert-success")).to_contain_text("已添加 10 人")
    upload_staff_documents(page, tmp_path, [senior])
    add_projects(upgrade_id, 5, 300)
    page.click("a.next-step:has-text('下一步')")
    page.fill("#office_area", "260")
    page.check("#iso9001")
    upload_materials(page, tmp_path)
    page.click("button:has-text('提交申请')")
    expect(page.locator(".alert-success")).to_contain_text("申请已提交")
    look(page, "upgrade-submitted")
    review(desk, base, "qualification_upgrade", "合肥守望安防科技有限公司", ("接收", None), ("通过", None))

    # 资质年审: the 二级 certificate was issued today; its first anniversary is moved to ten days ahead
    # in the database so that today falls in the 年审 window (30 days before to 60 days after).
    held = db.session.scalar(
        select(Certificate).where(Certificate.enterprise_id == enterprise.id, Certificate.status == "valid")
    )
    assert held.level == "L2"
    held.valid_from = today() + dt.timedelta(days=10) - relativedelta(years=1)
    held.valid_until = held.valid_from + relativedelta(years=3) - dt.timedelta(days=1)
    db.session.commit()
    menu(page, "资质年审")
    look(page, "annual-basic")
    page.click("button:has-text('下一步')")
    page.wait_for_url("**/staff")
    annual_id = application_id(page)
    page.click("a.add-staff:has-text('添加')")
    select_all_staff(page)
    page.click("button:has-text('选择')")
    add_projects(annual_id, 5, 300)
    page.click("a.next-step:has-text('下一步')")
    page.fill("#office_area", "260")
    page.check("#iso9001")
    upload_materials(page, tmp_path)
    page.click("button:has-text('提交申请')")
    expect(page.locator(".alert-success")).to_contain_text("申请已提交")
    review(desk, base, "qualification_annual", "合肥守望安防科技有限公司", ("接收", None), ("通过", None))

    # 到期换证: the certificate's expiry is moved to 30 days ahead in the database so that today falls
    # in the renewal window (90 days before expiry until the grace period after it).
    held = db.session.get(Certificate, held.id)
    held.valid_until = today() + dt.timedelta(days=30)
    db.session.commit()
    menu(page, "我的证书")
    expect(page.locator("table.my-certificates")).to_contain_text("年审合格")
    renewal_id = renew_by_the_manual(page, tmp_path, names, projects=5, level="二级", shots=False)
    review(desk, base, "qualification_renewal", "合肥守望安防科技有限公司", ("接收", None), ("通过", None))

    menu(page, "我的证书")
    expect(page.locator("table.my-certificates")).to_contain_text(f"{held.number}-01")
    expect(page.locator("table.my-certificates")).to_contain_text("已被替代")
    look(page, "qualification-certificates-renewed")
    assert renewal_id and page.foreign_requests == []


def renew_by_the_manual(
    page, tmp_path, names: list[str], projects: int = 0, level: str = "三级", shots: bool = True
) -> int:
    """八、到期换证: 1. 点击到期换证 → 点击下一步; 点击添加 (看黄色文字部分); 选择技术人员，上传技术人员信息;
    添加完技术人员后点击进入下一步; 上传评审材料 → 点击提交申请，等待协会审核. Returns the application's id."""
    menu(page, "到期换证")
    expect(page.locator(".eligibility")).to_contain_text("可以申请")
    expect(page.locator(f"label:has-text('{level}') input")).to_be_checked()
    if shots:
        look(page, "renewal-basic")
    page.click("button:has-text('下一步')")
    page.wait_for_url("**/staff")
    record_id = application_id(page)
    expect(page.locator(".qualification-hint li.unmet").first).to_be_visible()
    if shots:
        look(page, "renewal-hint-unmet")
    choose_staff(page, names)
    upload_staff_documents(page, tmp_path, names[:1])
    if projects:
        add_projects(record_id, projects, 300)
    if shots:
        look(page, "renewal-staff")
    page.click("a.next-step:has-text('下一步')")
    page.wait_for_url("**/materials")
    if level == "二级":
        page.fill("#office_area", "260")
        page.check("#iso9001")
    else:
        enter_project(page, tmp_path, "镜湖区平安社区监控工程")
    upload_materials(page, tmp_path)
    if shots:
        look(page, "renewal-materials")
    page.click("button:has-text('提交申请')")
    expect(page.locator(".alert-success")).to_contain_text("申请已提交")
    if shots:
        look(page, "renewal-submitted")
    return record_id


def test_renewal_chapter(live_app, live_server, page, desk, tmp_path):
    """八、到期换证 click by click, for a 三级 certificate that expires in 20 days."""
    user = make_enterprise_user(name="芜湖长安技防工程有限公司", registered_capital=80)
    reviewer = association_user("Reviewer", "reviewer2", "王审核")
    # Issued three years ago less 20 days: today falls in the renewal window.
    certificate = make_certificate(
        user.enterprise, "L3", valid_from=today() - relativedelta(years=3) + dt.timedelta(days=20)
    )
    names = [make_staff(user.enterprise, seq).name for seq in range(801, 806)]
    base = live_server.url

    login(page, base, user.username)
    page.wait_for_url("**/portal/")
    record_id = renew_by_the_manual(page, tmp_path, names, projects=0)
    assert record_id
    login(desk, base, reviewer.username, kind="协会用户")
    review(desk, base, "qualification_renewal", "芜湖长安技防工程有限公司", ("接收", None), ("通过", None))

    menu(page, "我的证书")
    table = page.locator("table.my-certificates")
    expect(table).to_contain_text(f"{certificate.number}-01")
    renewed = db.session.scalar(select(Certificate).where(Certificate.number == f"{certificate.number}-01"))
    assert renewed.valid_from == certificate.valid_until + dt.timedelta(days=1)
    assert db.session.scalar(select(TechnicalStaff.id).limit(1))


def test_association_pages(live_app, live_server, page):
    """What the association sees: the review page with a person also counted elsewhere, 证书管理 with a
    certificate's history and actions, and the configuration of levels, rule lines and materials."""
    from factories import make_qualification_application

    admin = association_user("AssociationAdmin", "admin1", "赵管理")
    user = make_enterprise_user(name="蚌埠金盾安防有限公司", registered_capital=80)
    other = make_enterprise_user(name="淮南卫士技防有限公司", registered_capital=80)
    record = make_qualification_application(other, status="submitted")
    # One of the applicant's people is also counted by the certificate holder's approved application.
    shared = db.session.scalar(select(TechnicalStaff).where(TechnicalStaff.enterprise_id == other.enterprise_id))
    make_staff(user.enterprise, 900, id_number=shared.id_number, name=shared.name)
    make_qualification_application(user, status="approved")
    make_certificate(user.enterprise, "L3")
    base = live_server.url

    login(page, base, admin.username, kind="协会用户")
    page.wait_for_url("**/backoffice/")
    menu(page, "资质申请审核", category="审核管理")
    look(page, "admin-review-queue", portal=False)
    page.click(f"a[href$='/{record.id}']:has-text('审核')")
    expect(page.locator(".shared-person")).to_contain_text("蚌埠金盾安防有限公司")
    look(page, "admin-review-detail", portal=False)

    menu(page, "证书管理", category="持有证书")
    expect(page.locator("table.certificate-register")).to_contain_text("蚌埠金盾安防有限公司")
    look(page, "admin-certificates", portal=False)
    page.click("table.certificate-register a:has-text('查看')")
    look(page, "admin-certificate", portal=False)
    page.fill("#reason", "年审材料弄虚作假，暂停资质")
    page.click("button:has-text('暂停')")
    expect(page.locator(".certificate-status")).to_have_text("已暂停")
    look(page, "admin-certificate-suspended", portal=False)

    for entry, name in (("资质等级", "levels"), ("人员配备规则", "rules"), ("评审材料", "materials")):
        menu(page, entry, category="系统设置")
        look(page, f"admin-qualification-{name}", portal=False)
        page.locator("a[href*='/edit/']").first.click()
        look(page, f"admin-qualification-{name}-edit", portal=False)

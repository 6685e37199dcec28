"""F5–F9 资质管理 end to end at request level: the wizard, eligibility windows in Asia/Shanghai, the
staffing rule at its boundaries, the snapshot, review, certificate effects, 证书管理 and configuration."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import time_machine
from sqlalchemy import func, select
from test_uploads import image_bytes, minimal_pdf

from app import certificates, clock, db
from app.models import (
    Application,
    AuditLog,
    Certificate,
    CertificateEvent,
    Enrollment,
    MaterialRequirement,
    Notification,
    QualificationApplication,
    QualificationLevel,
    QualificationStaff,
    Setting,
    StaffCertificate,
    StaffingRule,
    StatusLog,
    StoredFile,
)
from app.workflows import apply
from conftest import csrf_token, outbox
from factories import (
    READY_APPLICATION,
    level,
    make_batch,
    make_certificate,
    make_enterprise_user,
    make_qualification_application,
    make_staff,
    make_user,
    team,
)

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def at(day: str, hour: int = 10):
    """Travel to `day` at `hour` o'clock Asia/Shanghai (the clock keeps ticking)."""
    return time_machine.travel(dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=SHANGHAI), tick=True)


def enterprise_user(capital: float = 100, **fields):
    return make_enterprise_user(registered_capital=capital, legal_person="王法人", address="合肥市蜀山区", **fields)


def post(client, url: str, data: dict | None = None, **kwargs):
    data = dict(data or {})
    data.setdefault("csrf_token", csrf_token(client, "/qualification/certificates/"))
    return client.post(url, data=data, **kwargs)


def staff_post(client, url: str, data: dict | None = None, **kwargs):
    data = dict(data or {})
    data.setdefault("csrf_token", csrf_token(client, "/backoffice/review/"))
    return client.post(url, data=data, **kwargs)


def text(response) -> str:
    return response.get_data(as_text=True)


def fresh(record_id: int) -> QualificationApplication:
    db.session.expire_all()
    return db.session.get(Application, record_id)


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def start_draft(client, kind: str = "new", level_code: str = "L3") -> int:
    response = post(client, f"/qualification/{kind}/apply", {"level": str(level(level_code).id)})
    assert response.status_code == 302, text(response)
    location = response.headers["Location"]
    assert location.endswith("/staff"), location
    return int(location.rstrip("/").split("/")[-2])


def png_upload(name: str = "资料.png"):
    return (io.BytesIO(image_bytes()), name)


def pdf_upload(name: str = "资料.pdf"):
    return (io.BytesIO(minimal_pdf()), name)


def add_project(client, record_id: int, value: str = "60", days_ago: int = 30, kind: str = "new"):
    completed = clock.today() - dt.timedelta(days=days_ago)
    return post(
        client,
        f"/qualification/{kind}/{record_id}/projects",
        {
            "name": "某小区安防工程",
            "client": "某物业公司",
            "contract_value": value,
            "completed_on": completed.isoformat(),
        },
    )


def flashes(client) -> str:
    """The page the last redirect leads to, with its flashed messages."""
    return text(client.get("/qualification/certificates/"))


# --- 1. the wizard through the portal ------------------------------------------------------------


def test_step_one_shows_eligibility_and_the_read_only_profile(app, client, auth):
    owner = enterprise_user()
    auth.login(owner.username)
    page = text(client.get("/qualification/new/"))
    assert "基本信息" in page and "技术人员" in page and "评审材料" in page
    assert owner.enterprise.name in page and owner.enterprise.credit_code in page and "王法人" in page
    assert "注：基本信息不可修改编辑，如若信息错误可先进行信息变更操作。" in page
    assert "贵单位当前可以申请。" in page
    for field in ('name="name"', 'name="credit_code"', 'name="registered_capital"'):
        assert field not in page  # read-only: nothing of the profile is posted from here
    assert "一级" in page and "二级" in page and "三级" in page
    # 年审 without a certificate: refused on step 1 with the reason
    page = text(client.get("/qualification/annual/"))
    assert "当前不可申请：贵单位没有有效的资质证书" in page
    assert 'name="level"' not in page


def test_next_creates_the_draft_on_the_server_and_coming_back_resumes_it(app, client, auth):
    owner = enterprise_user()
    auth.login(owner.username)
    assert count(QualificationApplication) == 0
    record_id = start_draft(client)
    record = fresh(record_id)
    assert (record.status, record.level.code, record.enterprise_id) == ("draft", "L3", owner.enterprise_id)
    audit = db.session.scalar(select(AuditLog).where(AuditLog.object_id == str(record_id), AuditLog.action == "create"))
    assert audit is not None and audit.actor_id == owner.id
    # leave and come back: the index offers to continue, 下一步 again opens the same draft
    page = text(client.get("/qualification/new/"))
    assert f"/qualification/new/{record_id}/staff" in page
    again = post(client, "/qualification/new/apply", {"level": str(level("L2").id)})
    assert again.headers["Location"].endswith(f"/qualification/new/{record_id}/staff")
    assert count(QualificationApplication) == 1
    # a GET on apply never creates anything
    assert client.get("/qualification/upgrade/apply").status_code == 302
    assert count(QualificationApplication) == 1


def test_a_level_not_offered_is_refused(app, client, auth):
    owner = enterprise_user()
    make_certificate(owner.enterprise, "L2")
    auth.login(owner.username)
    response = post(client, "/qualification/upgrade/apply", {"level": str(level("L3").id)})
    assert response.status_code == 302 and response.headers["Location"].endswith("/qualification/upgrade/")
    assert count(QualificationApplication) == 0


def test_picker_lists_own_unarchived_staff_searchable_and_adds_several(app, client, auth):
    owner = enterprise_user()
    other = enterprise_user()
    people = team(owner.enterprise, 4)
    archived = make_staff(owner.enterprise, 71, name="离职人员")
    archived.archived = True
    foreign = make_staff(other.enterprise, 72, name="别家员工")
    db.session.commit()
    auth.login(owner.username)
    record_id = start_draft(client)
    page = text(client.get(f"/qualification/new/{record_id}/staff/pick"))
    for person in people:
        assert person.name in page
    assert "离职人员" not in page and "别家员工" not in page
    # search by name, by the beginning of the ID number
    page = text(client.get(f"/qualification/new/{record_id}/staff/pick", query_string={"q": people[2].name}))
    assert people[2].name in page and people[3].name not in page
    page = text(client.get(f"/qualification/new/{record_id}/staff/pick", query_string={"q": people[3].id_number}))
    assert people[3].name in page and people[2].name not in page
    assert page.count(people[3].id_number) == 1  # the search box echoes it; the list shows it masked
    # several at once; the archived person and the other enterprise's staff cannot be smuggled in
    chosen = [people[0].id, people[1].id, people[2].id, archived.id, foreign.id]
    response = post(client, f"/qualification/new/{record_id}/staff/pick", {"staff_ids": [str(i) for i in chosen]})
    assert response.headers["Location"].endswith(f"/qualification/new/{record_id}/staff")
    assert "已添加 3 人" in flashes(client)
    assert {s.staff_id for s in fresh(record_id).staff} == {people[0].id, people[1].id, people[2].id}
    # the chosen ones leave the picker; choosing nothing adds nothing
    page = text(client.get(f"/qualification/new/{record_id}/staff/pick"))
    assert people[0].name not in page and people[3].name in page
    post(client, f"/qualification/new/{record_id}/staff/pick", {"staff_ids": [str(foreign.id)]})
    assert len(fresh(record_id).staff) == 3


def test_hint_lines_count_as_people_are_added_and_removed(app, client, auth):
    owner = enterprise_user()
    people = team(owner.enterprise, 5)
    auth.login(owner.username)
    record_id = start_draft(client)
    page = text(client.get(f"/qualification/new/{record_id}/staff"))
    assert "技术人员不少于 5 人" in page and "现有 0，要求 5，还差 5" in page
    post(client, f"/qualification/new/{record_id}/staff/pick", {"staff_ids": [str(p.id) for p in people[:4]]})
    page = text(client.get(f"/qualification/new/{record_id}/staff"))
    assert "现有 4，要求 5，还差 1" in page and 'class="unmet"' in page
    post(client, f"/qualification/new/{record_id}/staff/pick", {"staff_ids": [str(people[4].id)]})
    page = text(client.get(f"/qualification/new/{record_id}/staff"))
    assert "已满足（5）" in page and "还差" not in page.split("注册资本")[0]
    post(client, f"/qualification/new/{record_id}/staff/{people[0].id}/remove")
    page = text(client.get(f"/qualification/new/{record_id}/staff"))
    assert "现有 4，要求 5，还差 1" in page
    assert {s.staff_id for s in fresh(record_id).staff} == {p.id for p in people[1:]}


def test_staff_documents_upload_and_a_bad_file_is_refused_in_chinese(app, client, auth, tmp_path):
    owner = enterprise_user()
    person = team(owner.enterprise, 1)[0]
    auth.login(owner.username)
    record_id = start_draft(client)
    post(client, f"/qualification/new/{record_id}/staff/pick", {"staff_ids": [str(person.id)]})
    version, files = fresh(record_id).version, count(StoredFile)
    url = f"/qualification/new/{record_id}/staff/{person.id}/proof"
    response = post(client, url, {"proof": (io.BytesIO(b"MZ\x90\x00 not an image"), "证书.png")})
    assert response.status_code == 302
    page = flashes(client)
    assert "alert-danger" in page and "图片文件已损坏或不是有效的 JPG/PNG 图片" in page
    assert count(StoredFile) == files and fresh(record_id).version == version
    assert fresh(record_id).staff[0].proof_file_id is None
    post(client, url, {"proof": pdf_upload("社保证明.pdf")})
    assert "已保存" in flashes(client)
    entry = fresh(record_id).staff[0]
    assert entry.proof_file_id is not None and entry.proof_file.content_type == "application/pdf"
    page = text(client.get(f"/qualification/new/{record_id}/staff"))
    assert "已上传" in page and f"/files/{entry.proof_file_id}" in page


def ready_draft(client, owner, people: int = 5) -> int:
    """A draft of 资质申请 三级 started through the portal, with `people` staff and nothing else."""
    staff = team(owner.enterprise, people)
    record_id = start_draft(client)
    if staff:
        post(client, f"/qualification/new/{record_id}/staff/pick", {"staff_ids": [str(p.id) for p in staff]})
    return record_id


def test_submission_is_refused_with_the_exact_unmet_lines_and_missing_materials(app, client, auth):
    owner = enterprise_user()
    auth.login(owner.username)
    record_id = ready_draft(client, owner, people=3)
    before = fresh(record_id)
    version, logs = before.version, count(StatusLog)
    response = post(client, f"/qualification/new/{record_id}/materials", {"action": "submit", "office_area": ""})
    assert response.headers["Location"].endswith(f"/qualification/new/{record_id}/materials")
    page = text(client.get(f"/qualification/new/{record_id}/materials"))
    message = page.split("暂不能提交申请：")[1].split("</div>")[0]
    assert (
        "技术人员不少于 5 人：具有职称、职业资格证书或培训合格，在本单位缴纳社保不少于 3 个月（现有 3，要求 5）"
        in message
    )
    assert "近2年完成工程业绩不低于 50 万元（现有 0，要求 50）" in message
    for name in ("营业执照", "近两年完成工程业绩合同及验收证明", "社保缴纳证明"):
        assert f"缺少材料：{name}" in message
    assert "其他材料" not in message  # optional
    assert "注册资本" not in message  # 100 ≥ 50: met lines are not listed
    after = fresh(record_id)
    assert after.status == "draft" and after.snapshot is None and count(StatusLog) == logs
    assert after.version == version + 1  # the conditions were saved (a claim), nothing else


def test_materials_page_projects_conditions_uploads_then_submit(app, client, auth):
    owner = enterprise_user()
    auth.login(owner.username)
    record_id = ready_draft(client, owner, people=5)
    page = text(client.get(f"/qualification/new/{record_id}/materials"))
    for name in ("营业执照", "近两年完成工程业绩合同及验收证明", "社保缴纳证明", "其他材料"):
        assert name in page
    assert "财务审计报告" not in page  # 一级/二级 only
    for name in ("营业执照", "近两年完成工程业绩合同及验收证明", "社保缴纳证明"):
        assert f'<span class="required">*</span>{name}' in page
    assert '<span class="required">*</span>其他材料' not in page
    add_project(client, record_id, value="60")
    assert "项目已添加" in flashes(client)
    assert len(fresh(record_id).projects) == 1
    # a bad material file: refused, nothing stored, earlier materials untouched
    files = count(StoredFile)
    post(
        client,
        f"/qualification/new/{record_id}/materials",
        {"action": "save", "office_area": "120", "material_business_licence": (io.BytesIO(b"%PDF-broken"), "x.pdf")},
    )
    assert count(StoredFile) == files and fresh(record_id).files == []
    response = post(
        client,
        f"/qualification/new/{record_id}/materials",
        {
            "action": "save",
            "office_area": "120",
            "material_business_licence": png_upload("营业执照.png"),
            "material_projects": pdf_upload("业绩.pdf"),
        },
    )
    assert response.headers["Location"].endswith(f"/qualification/new/{record_id}/materials")
    record = fresh(record_id)
    assert float(record.office_area) == 120 and {f.requirement for f in record.files} == {
        "business_licence",
        "projects",
    }
    page = text(client.get(f"/qualification/new/{record_id}/materials"))
    assert "缺少" not in page and page.count("已上传") == 2
    response = post(
        client,
        f"/qualification/new/{record_id}/materials",
        {"action": "submit", "office_area": "120", "material_insurance": pdf_upload("社保.pdf")},
    )
    assert response.headers["Location"].endswith(f"/qualification/new/{record_id}")
    record = fresh(record_id)
    assert record.status == "submitted" and record.snapshot and record.submitted_on is not None
    page = text(client.get(f"/qualification/new/{record_id}"))
    assert "已提交" in page and "三级" in page


def test_material_slots_keep_their_accepted_types_and_size(app, client, auth):
    owner = enterprise_user()
    auth.login(owner.username)
    record_id = ready_draft(client, owner, people=0)
    licence = db.session.scalar(select(MaterialRequirement).where(MaterialRequirement.code == "business_licence"))
    licence.accept, licence.max_mb = "pdf", 1
    db.session.commit()
    url = f"/qualification/new/{record_id}/materials"
    files = count(StoredFile)
    page = text(post(client, url, {"action": "save", "material_business_licence": png_upload()}))
    assert "不支持的文件类型，只能上传PDF 文件" in page
    big = (io.BytesIO(minimal_pdf(b" " * 1_200_000)), "a.pdf")
    page = text(post(client, url, {"action": "save", "material_business_licence": big}))
    assert "营业执照：文件超过 1 MB" in page
    assert count(StoredFile) == files and fresh(record_id).files == []
    post(client, url, {"action": "save", "material_business_licence": pdf_upload()})
    assert [f.requirement for f in fresh(record_id).files] == ["business_licence"]


def submitted_through_portal(client, owner) -> int:
    record_id = ready_draft(client, owner, people=5)
    add_project(client, record_id)
    response = post(
        client,
        f"/qualification/new/{record_id}/materials",
        {
            "action": "submit",
            "material_business_licence": png_upload(),
            "material_projects": pdf_upload(),
            "material_insurance": pdf_upload(),
        },
    )
    assert fresh(record_id).status == "submitted", text(response)
    return record_id


WIZARD_WRITES = [
    ("basic", lambda r, s: {"level": str(level("L2").id)}),
    ("staff/pick", lambda r, s: {"staff_ids": [str(s.id)]}),
    ("staff/{sid}/remove", lambda r, s: {}),
    ("staff/{sid}/proof", lambda r, s: {"proof": png_upload()}),
    ("materials", lambda r, s: {"action": "save", "office_area": "999"}),
    ("projects", lambda r, s: {"name": "x", "client": "y", "contract_value": "1", "completed_on": "2025-01-01"}),
]


def test_revise_until_received_then_refused_on_the_server(app, client, auth):
    owner = enterprise_user()
    reviewer = make_user("Reviewer")
    auth.login(owner.username)
    record_id = submitted_through_portal(client, owner)
    page = text(client.get(f"/qualification/new/{record_id}"))
    assert 'value="revise"' in page and "修改资料" in page
    response = post(client, f"/qualification/new/{record_id}/act", {"transition": "revise"})
    assert response.headers["Location"].endswith(f"/qualification/new/{record_id}/basic")
    assert fresh(record_id).status == "draft"
    page = text(client.get(f"/qualification/new/{record_id}/basic"))
    assert "注：基本信息不可修改编辑" in page
    post(client, f"/qualification/new/{record_id}/materials", {"action": "submit"})
    assert fresh(record_id).status == "submitted"
    apply(fresh(record_id), "receive", reviewer)
    page = text(client.get(f"/qualification/new/{record_id}"))
    assert 'value="revise"' not in page
    record = fresh(record_id)
    version, staff, snapshot = record.version, [s.staff_id for s in record.staff], record.snapshot
    person = record.staff[0].person
    post(client, f"/qualification/new/{record_id}/act", {"transition": "revise"})
    assert fresh(record_id).status == "received"
    for path, data in WIZARD_WRITES:
        url = f"/qualification/new/{record_id}/" + path.format(sid=person.id)
        response = post(client, url, data(record, person))
        assert response.status_code == 302 and response.headers["Location"].endswith(f"/qualification/new/{record_id}")
        assert "协会已接收资料，不能再修改" in flashes(client), path
    for path in ("basic", "staff", "staff/pick", "materials", "edit"):
        response = client.get(f"/qualification/new/{record_id}/{path}")
        assert response.status_code == 302, path
    record = fresh(record_id)
    assert (record.status, record.version, [s.staff_id for s in record.staff], record.snapshot) == (
        "received",
        version,
        staff,
        snapshot,
    )
    assert float(record.office_area or 0) != 999 and record.level.code == "L3"


def test_wizard_routes_of_another_enterprise_are_not_found(app, client, auth):
    owner = enterprise_user()
    record = make_qualification_application(owner)
    intruder = enterprise_user()
    auth.login(intruder.username)
    for path in ("basic", "staff", "staff/pick", "materials"):
        assert client.get(f"/qualification/new/{record.id}/{path}").status_code == 404
    assert post(client, f"/qualification/new/{record.id}/staff/pick", {"staff_ids": ["1"]}).status_code == 404


# --- 2. eligibility, on Asia/Shanghai calendar days ------------------------------------------------


def step_one(client, kind: str) -> tuple[bool, str]:
    page = text(client.get(f"/qualification/{kind}/"))
    assert ("贵单位当前可以申请。" in page) != ("当前不可申请" in page)
    return "贵单位当前可以申请。" in page, page


def check_on(client, auth, owner, moment, kind: str) -> tuple[bool, str]:
    with time_machine.travel(moment, tick=True):
        auth.login(owner.username)
        return step_one(client, kind)


def shanghai(day: str, hour: int = 10) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=SHANGHAI)


def test_annual_review_window_boundaries_and_once_per_certificate_year(app, client, auth):
    owner = enterprise_user()
    # anniversary 2026-03-01; window 30 days before to 60 days after (settings)
    certificate = make_certificate(owner.enterprise, "L3", valid_from=dt.date(2025, 3, 1))
    allowed, page = check_on(client, auth, owner, shanghai("2026-01-29"), "annual")
    assert not allowed and "年审将于 2026-01-30 开放申请" in page
    assert check_on(client, auth, owner, shanghai("2026-01-30"), "annual")[0]
    assert check_on(client, auth, owner, shanghai("2026-04-30", 23), "annual")[0]
    allowed, page = check_on(client, auth, owner, shanghai("2026-05-01", 0), "annual")
    assert not allowed and "年审将于 2027-01-30 开放申请" in page  # the next certificate year's window
    # passed for certificate year 1: not again in the same window, but in the next one
    make_qualification_application(owner, "qualification_annual", "approved", certificate=certificate, review_year=1)
    allowed, page = check_on(client, auth, owner, shanghai("2026-03-10"), "annual")
    assert not allowed and "本证书年度的年审已通过" in page
    with at("2027-02-01"):
        auth.login(owner.username)
        assert step_one(client, "annual")[0]
        record_id = start_draft(client, "annual")
        assert fresh(record_id).review_year == 2 and fresh(record_id).certificate_id == certificate.id


def test_annual_window_is_a_setting(app, client, auth):
    owner = enterprise_user()
    make_certificate(owner.enterprise, "L3", valid_from=dt.date(2025, 3, 1))
    db.session.get(Setting, "qualification.annual_window_days_before").value = "10"
    db.session.commit()
    allowed, page = check_on(client, auth, owner, shanghai("2026-02-18"), "annual")
    assert not allowed and "年审将于 2026-02-19 开放申请" in page
    assert check_on(client, auth, owner, shanghai("2026-02-19"), "annual")[0]


def test_renewal_window_opens_at_midnight_in_shanghai(app, client, auth):
    owner = enterprise_user()
    # expires 2026-05-31: opens 90 days before, on 2026-03-02 (00:00 Shanghai = 2026-03-01 16:00 UTC)
    make_certificate(owner.enterprise, "L3", valid_from=dt.date(2023, 6, 1))
    allowed, page = check_on(client, auth, owner, dt.datetime(2026, 3, 1, 15, 59, 59, tzinfo=dt.UTC), "renewal")
    assert not allowed and "到期换证将于 2026-03-02 开放申请" in page
    allowed, page = check_on(client, auth, owner, dt.datetime(2026, 3, 1, 16, 0, 1, tzinfo=dt.UTC), "renewal")
    assert allowed and "2026-05-31" in page
    # the last day is the expiry day itself (grace 0 by default); the day after is too late
    assert check_on(client, auth, owner, dt.datetime(2026, 5, 31, 15, 59, 59, tzinfo=dt.UTC), "renewal")[0]
    allowed, page = check_on(client, auth, owner, dt.datetime(2026, 5, 31, 16, 0, 1, tzinfo=dt.UTC), "renewal")
    assert not allowed and "换证期限已于 2026-05-31 截止，请重新进行资质申请" in page


def test_renewal_days_and_grace_are_settings(app, client, auth):
    owner = enterprise_user()
    make_certificate(owner.enterprise, "L3", valid_from=dt.date(2023, 6, 1))  # expires 2026-05-31
    db.session.get(Setting, "qualification.renewal_days_before").value = "30"
    db.session.get(Setting, "qualification.renewal_grace_days").value = "15"
    db.session.commit()
    allowed, page = check_on(client, auth, owner, shanghai("2026-04-30"), "renewal")
    assert not allowed and "到期换证将于 2026-05-01 开放申请" in page
    assert check_on(client, auth, owner, shanghai("2026-05-01", 0), "renewal")[0]
    # after expiry and within the grace: renewal yes, 年审 and 晋级 no (the certificate is no longer valid)
    assert check_on(client, auth, owner, shanghai("2026-06-15", 23), "renewal")[0]
    assert not check_on(client, auth, owner, shanghai("2026-06-15"), "upgrade")[0]
    allowed, page = check_on(client, auth, owner, shanghai("2026-06-16", 0), "renewal")
    assert not allowed and "换证期限已于 2026-06-15 截止" in page


def test_upgrade_only_higher_and_after_the_years_held(app, client, auth):
    owner = enterprise_user()
    level("L2").years_held_before_upgrade = 2
    level("L1").years_held_before_upgrade = 3
    db.session.commit()
    make_certificate(owner.enterprise, "L3", valid_from=dt.date(2024, 3, 1), years=5)
    allowed, page = check_on(client, auth, owner, shanghai("2026-02-28", 23), "upgrade")
    assert not allowed and "自 2026-03-01 起可申请晋级" in page
    allowed, page = check_on(client, auth, owner, shanghai("2026-03-01", 0), "upgrade")
    assert allowed and f'value="{level("L2").id}"' in page
    assert f'value="{level("L1").id}"' not in page and f'value="{level("L3").id}"' not in page
    with at("2027-03-01"):
        auth.login(owner.username)
        page = step_one(client, "upgrade")[1]
        assert f'value="{level("L1").id}"' in page and f'value="{level("L2").id}"' in page
        # the server refuses the held level even if posted
        response = post(client, "/qualification/upgrade/apply", {"level": str(level("L3").id)})
        assert response.headers["Location"].endswith("/qualification/upgrade/")
        assert count(QualificationApplication) == 0


def test_upgrade_from_the_highest_and_downgrade_from_the_lowest_are_refused(app, client, auth):
    top = enterprise_user()
    make_certificate(top.enterprise, "L1")
    auth.login(top.username)
    allowed, page = step_one(client, "upgrade")
    assert not allowed and "贵单位已是最高等级" in page
    allowed, page = step_one(client, "downgrade")
    assert allowed and f'value="{level("L2").id}"' in page and f'value="{level("L3").id}"' in page
    assert f'value="{level("L1").id}"' not in page
    bottom = enterprise_user()
    make_certificate(bottom.enterprise, "L3")
    auth.logout()
    auth.login(bottom.username)
    allowed, page = step_one(client, "downgrade")
    assert not allowed and "贵单位已是最低等级" in page
    response = post(client, "/qualification/downgrade/apply", {"level": str(level("L3").id)})
    assert response.headers["Location"].endswith("/qualification/downgrade/")
    assert count(QualificationApplication) == 0


def test_new_application_only_without_a_valid_certificate(app, client, auth):
    owner = enterprise_user()
    certificate = make_certificate(owner.enterprise, "L3", valid_from=dt.date(2024, 1, 1))  # until 2026-12-31
    allowed, page = check_on(client, auth, owner, shanghai("2026-12-31", 23), "new")
    assert not allowed and f"贵单位已持有有效的资质证书（{certificate.number}）" in page
    assert check_on(client, auth, owner, shanghai("2027-01-01", 0), "new")[0]
    with at("2026-06-01"):
        certificate.status = "revoked"
        db.session.commit()
        auth.login(owner.username)
        assert step_one(client, "new")[0]


def test_one_open_application_per_enterprise(app, client, auth):
    owner = enterprise_user()
    certificate = make_certificate(owner.enterprise, "L2", valid_from=clock.today() - dt.timedelta(days=340))
    pending = make_qualification_application(
        owner, "qualification_annual", "submitted", "L2", certificate=certificate, review_year=1
    )
    auth.login(owner.username)
    for kind in ("upgrade", "downgrade", "renewal", "new"):
        allowed, page = step_one(client, kind)
        assert not allowed and f"贵单位已有正在办理的资质申请（编号 {pending.id}）" in page, kind
    response = post(client, "/qualification/downgrade/apply", {"level": str(level("L3").id)})
    assert response.headers["Location"].endswith("/qualification/downgrade/")
    assert count(QualificationApplication) == 1
    apply(pending, "refuse", make_user("Reviewer"), comment="材料不实")
    assert step_one(client, "downgrade")[0]


def test_submission_rechecks_eligibility_on_the_day(app, client, auth):
    owner = enterprise_user()
    make_certificate(owner.enterprise, "L3", valid_from=dt.date(2025, 3, 1))
    with at("2026-04-30"):
        auth.login(owner.username)
        record_id = start_draft(client, "annual")
    record = fresh(record_id)
    people = team(owner.enterprise, 5)
    for person in people:
        record.staff.append(
            QualificationStaff(enterprise_id=owner.enterprise_id, staff_id=person.id, id_number=person.id_number)
        )
    db.session.commit()
    with at("2026-05-01"):
        auth.login(owner.username)
        post(client, f"/qualification/annual/{record_id}/materials", {"action": "submit"})
        page = text(client.get(f"/qualification/annual/{record_id}/materials"))
        assert "年审将于 2027-01-30 开放申请" in page
    assert fresh(record_id).status == "draft"


# --- 3. the staffing rule and the thresholds at their boundaries -----------------------------------


def lines_of(record) -> list:
    from app.qualification import verdict

    db.session.expire_all()
    return verdict(db.session.get(Application, record.id))[0]


def staff_lines(record) -> list[tuple[int, int, bool]]:
    return [(int(line.required), int(line.actual), line.met) for line in lines_of(record) if line.kind == "staff"]


def line(record, kind: str, index: int = 0):
    return [entry for entry in lines_of(record) if entry.kind == kind][index]


@pytest.mark.parametrize(
    ("level_code", "counts"),
    [("L3", [(5,)]), ("L2", [(10,), (1,)]), ("L1", [(20,), (2,)])],
)
def test_each_seeded_staffing_line_fails_at_n_minus_one_and_passes_at_n(app, level_code, counts):
    owner = enterprise_user(capital=2000)
    needed = counts[0][0]
    short = make_qualification_application(owner, level_code=level_code, staff=needed - 1)
    assert [met for _r, _a, met in staff_lines(short)][0] is False
    assert staff_lines(short)[0][:2] == (needed, needed - 1)
    enough = make_qualification_application(enterprise_user(capital=2000), level_code=level_code, staff=needed)
    assert all(met for _r, _a, met in staff_lines(enough))
    assert staff_lines(enough)[0] == (needed, needed, True)


def test_the_title_and_position_lines_count_only_matching_people(app):
    owner = enterprise_user(capital=2000)
    record = make_qualification_application(owner, level_code="L1", staff=20)
    assert staff_lines(record)[1] == (2, 2, True)  # two 技术负责人
    seniors = [s.person for s in record.staff[:2]]
    seniors[0].position = "项目经理"
    db.session.commit()
    assert staff_lines(record)[1] == (2, 1, False)
    counted = line(record, "staff", 1).counted
    assert counted == [seniors[1].id]
    # L2: at least one 高级工程师 or 正高级工程师 (no credential condition beyond the title)
    l2 = make_qualification_application(enterprise_user(capital=2000), level_code="L2", staff=10)
    people = [s.person for s in l2.staff]
    people[0].title = people[1].title = "工程师"
    db.session.commit()
    assert staff_lines(l2)[1] == (1, 0, False)
    people[1].title = "正高级工程师"
    db.session.commit()
    assert staff_lines(l2)[1] == (1, 1, True)


def test_insurance_months_two_do_not_count_three_do(app):
    owner = enterprise_user()
    record = make_qualification_application(owner, level_code="L3", staff=5)
    person = record.staff[4].person
    person.insurance_months = 2
    db.session.commit()
    assert staff_lines(record) == [(5, 4, False)]
    person.insurance_months = 3
    db.session.commit()
    assert staff_lines(record) == [(5, 5, True)]


def test_credential_is_a_title_or_a_valid_certificate_or_a_passed_training(app):
    owner = enterprise_user()
    record = make_qualification_application(owner, level_code="L3", staff=5)
    person = record.staff[4].person
    person.title = "无"
    db.session.commit()
    assert staff_lines(record) == [(5, 4, False)]
    today = clock.today()
    certificate = StaffCertificate(
        staff_id=person.id,
        enterprise_id=owner.enterprise_id,
        kind="安全防范系统安装维护员",
        number="A-1",
        expires_on=today - dt.timedelta(days=1),
    )
    db.session.add(certificate)
    db.session.commit()
    assert staff_lines(record) == [(5, 4, False)]  # expired yesterday: does not count
    certificate.expires_on = today  # valid through today
    db.session.commit()
    assert staff_lines(record) == [(5, 5, True)]
    db.session.delete(certificate)
    batch = make_batch()
    enrollment = Enrollment(
        batch_id=batch.id,
        staff_id=person.id,
        enterprise_id=owner.enterprise_id,
        id_number=person.id_number,
        status="failed",
    )
    db.session.add(enrollment)
    db.session.commit()
    assert staff_lines(record) == [(5, 4, False)]  # a failed training is no credential
    enrollment.status = "passed"
    db.session.commit()
    assert staff_lines(record) == [(5, 5, True)]


def test_capital_comes_from_the_profile(app):
    owner = enterprise_user(capital=49.99)
    record = make_qualification_application(owner, level_code="L3")
    assert line(record, "capital").met is False and "49.99" in line(record, "capital").text
    owner.enterprise.registered_capital = 50
    db.session.commit()
    assert line(record, "capital").met is True


def test_office_area_and_iso_thresholds(app):
    owner = enterprise_user(capital=600)
    record = make_qualification_application(owner, level_code="L2", staff=10, office_area=199.99, iso9001=False)
    assert (line(record, "office").met, line(record, "iso").met) == (False, False)
    record.office_area, record.iso9001 = 200, True
    db.session.commit()
    assert (line(record, "office").met, line(record, "iso").met) == (True, True)
    three = make_qualification_application(enterprise_user(), level_code="L3", office_area=None, iso9001=False)
    assert {entry.kind for entry in lines_of(three)} == {"staff", "capital", "projects"}  # 三级 asks neither


def test_projects_value_count_and_large_ones_within_the_project_years(app):
    from dateutil.relativedelta import relativedelta

    from app.models import QualificationProject
    from app.qualification import today

    owner = enterprise_user(capital=2000)
    record = make_qualification_application(owner, level_code="L1", staff=20, projects=0)

    def projects(*values_and_days):
        record.projects.clear()
        for value, days in values_and_days:
            record.projects.append(
                QualificationProject(
                    enterprise_id=owner.enterprise_id,
                    name="工程",
                    client="甲方",
                    contract_value=value,
                    completed_on=today() - dt.timedelta(days=days),
                )
            )
        db.session.commit()
        value_line, count_line, large_line = (line(record, "projects", i) for i in range(3))
        return (
            (value_line.actual, value_line.met),
            (count_line.actual, count_line.met),
            (large_line.actual, large_line.met),
        )

    two_years = (today() - (today() - relativedelta(years=2))).days
    # 一级: ≥ 2000 in total, ≥ 5 projects, ≥ 2 single projects ≥ 300, completed within the last 2 years
    assert projects((300, 1), (300, 2), (400, 3), (500, 4), (499.99, 5)) == ((1999.99, False), (5, True), (5, True))
    assert projects((300, 1), (299.99, 2), (500, 3), (500, 4), (400.01, 5)) == ((2000, True), (5, True), (4, True))
    assert projects((1000, 1), (299.99, 2), (299.99, 3), (299.99, 4), (299.99, 5))[2] == (1, False)
    assert projects((1000, 1), (1000, 2), (100, 3), (100, 4))[1] == (4, False)
    # a project completed just over 2 years ago no longer counts; exactly 2 years ago still does
    inside = projects((1000, 1), (500, 2), (100, 3), (100, 4), (300, two_years))
    assert inside[1] == (5, True)
    outside = projects((1000, 1), (500, 2), (100, 3), (100, 4), (300, two_years + 1))
    assert outside[1] == (4, False) and outside[0] == (1700, False)


# --- 4. the snapshot a submitted application keeps ------------------------------------------------


def submitted(owner, kind: str = "qualification_new", level_code: str = "L3", **fields):
    """An application built as a draft and submitted by its owner (the snapshot is taken then)."""
    record = make_qualification_application(owner, kind, "draft", level_code, **fields)
    apply(record, "submit", db.session.get(type(owner), owner.id))
    return fresh(record.id)


def review_page(client, record) -> str:
    response = client.get(f"/backoffice/review/{record.kind}/{record.id}")
    assert response.status_code == 200
    return text(response)


def test_rule_material_and_staff_edits_after_submission_change_nothing_the_reviewer_sees(app, client, auth):
    owner = enterprise_user()
    record = submitted(owner)
    people = [s.person for s in record.staff]
    admin = make_user("AssociationAdmin")
    auth.login(admin.username)
    before = review_page(client, record)
    assert "技术人员不少于 5 人" in before and "未满足" not in before
    for person in people:
        assert person.name in before
    # the association raises the 三级 line to 8 people and adds a required material …
    rule = db.session.scalar(select(StaffingRule).where(StaffingRule.level_id == level("L3").id))
    token = csrf_token(client, "/backoffice/qualification/rules/list/")
    response = client.post(
        f"/backoffice/qualification/rules/edit/{rule.id}",
        data={
            "level": str(level("L3").id),
            "min_count": "8",
            "requires_credential": "y",
            "min_insurance_months": "3",
            "sort_order": "0",
            "csrf_token": token,
        },
    )
    assert response.status_code == 302, text(response)[-3000:]
    db.session.expire_all()
    assert db.session.get(StaffingRule, rule.id).min_count == 8
    db.session.add(
        MaterialRequirement(code="safety", name="安全生产许可证", level_id=level("L3").id, required=True, sort_order=99)
    )
    # … and the enterprise's staff records change (no title, no insurance any more)
    for person in people:
        person.title, person.insurance_months, person.position = "无", 0, "其他"
    db.session.commit()
    after = review_page(client, record)
    assert "技术人员不少于 5 人" in after and "不少于 8 人" not in after and "未满足" not in after
    assert "安全生产许可证" not in after
    staff_table = after.split('class="table table-condensed application-staff"')[1].split("</table>")[0]
    assert "工程师" in staff_table and "其他" not in staff_table and ">0<" not in staff_table
    snapshot = fresh(record.id).snapshot
    assert '"met": true' in snapshot
    # the verdict stays: the reviewer can still approve what was submitted
    apply(fresh(record.id), "approve", admin)
    assert fresh(record.id).status == "approved"
    # while a new draft is measured by the new rule
    draft = make_qualification_application(enterprise_user(), staff=5)
    assert staff_lines(draft) == [(8, 5, False)]


# --- 5. review ------------------------------------------------------------------------------------


def reviewer_login(client, auth, role: str = "Reviewer"):
    user = make_user(role)
    auth.login(user.username)
    return user


def test_each_type_has_its_queue(app, client, auth):
    new_owner, annual_owner, drafting = enterprise_user(), enterprise_user(), enterprise_user()
    submitted(new_owner)
    make_qualification_application(drafting)  # still in the wizard: not the association's business yet
    certificate = make_certificate(annual_owner.enterprise, "L3", valid_from=clock.today() - dt.timedelta(days=350))
    submitted(annual_owner, "qualification_annual", certificate=certificate, review_year=1)
    reviewer_login(client, auth)
    new_queue = text(client.get("/backoffice/review/qualification_new/"))
    annual_queue = text(client.get("/backoffice/review/qualification_annual/"))
    assert new_owner.enterprise.name in new_queue and annual_owner.enterprise.name not in new_queue
    assert annual_owner.enterprise.name in annual_queue and new_owner.enterprise.name not in annual_queue
    assert drafting.enterprise.name not in new_queue
    overview = text(client.get("/backoffice/review/"))
    for label in ("资质申请审核", "资质年审审核"):
        assert label in overview


def test_detail_shows_lines_counted_people_materials_and_the_shared_person_flag(app, client, auth):
    from app.models import ApplicationFile
    from factories import stored_image

    owner = enterprise_user()
    record = make_qualification_application(owner, materials=True)
    pdf = db.session.get(StoredFile, stored_image(owner).id)
    pdf.content_type = "application/pdf"
    record.files.append(
        ApplicationFile(enterprise_id=owner.enterprise_id, requirement="other", label="其他材料", file_id=pdf.id)
    )
    db.session.commit()
    apply(record, "submit", owner)
    record = fresh(record.id)
    shared = record.staff[0].person
    # another enterprise counts the same person (same ID number) — flagged once it is submitted
    rival_owner = enterprise_user()
    twin = make_staff(rival_owner.enterprise, 9, name=shared.name, id_number=shared.id_number, gender=shared.gender)
    rival = make_qualification_application(rival_owner, staff=0, status="draft")
    rival.staff.append(
        QualificationStaff(enterprise_id=rival_owner.enterprise_id, staff_id=twin.id, id_number=twin.id_number)
    )
    db.session.commit()
    reviewer_login(client, auth)
    page = review_page(client, record)
    assert "同时被以下企业申报" not in page  # a draft is nobody's claim yet
    for state, flagged in (
        ("submitted", True),
        ("received", True),
        ("approved", True),
        ("refused", False),
        ("withdrawn", False),
    ):
        rival.status = state
        db.session.commit()
        page = review_page(client, record)
        assert (f"同时被以下企业申报：{rival_owner.enterprise.name}" in page) is flagged, state
    assert "计入人员" in page and shared.name in page and "满足" in page
    assert "提交时（" in page
    assert 'class="material-thumb"' in page and "打开 PDF" in page
    assert f"/files/{pdf.id}" in page


def test_receive_return_with_reason_resubmit_and_approve_notify_and_audit(app, client, auth):
    owner = enterprise_user()
    auth.login(owner.username)
    record_id = submitted_through_portal(client, owner)
    auth.logout()
    reviewer = reviewer_login(client, auth)
    url = f"/backoffice/review/qualification_new/{record_id}/act"
    staff_post(client, url, {"transition": "receive", "version": str(fresh(record_id).version)})
    assert fresh(record_id).status == "received"
    staff_post(client, url, {"transition": "return", "comment": "  ", "version": str(fresh(record_id).version)})
    page = text(client.get(f"/backoffice/review/qualification_new/{record_id}"))
    assert "请填写原因" in page and fresh(record_id).status == "received"
    staff_post(
        client, url, {"transition": "return", "comment": "社保证明不清晰", "version": str(fresh(record_id).version)}
    )
    assert fresh(record_id).status == "returned"
    messages = db.session.scalars(select(Notification).where(Notification.application_id == record_id)).all()
    assert {m.channel for m in messages} == {"inapp", "sms"}
    assert any("社保证明不清晰" in m.body and m.channel == "sms" and m.result == "sent" for m in messages)
    assert any(m["to"] == owner.phone and "社保证明不清晰" in m["text"] for m in outbox(app))
    auth.logout()
    auth.login(owner.username)
    page = text(client.get(f"/qualification/new/{record_id}"))
    assert "社保证明不清晰" in page  # the left column's review progress shows the reason
    post(client, f"/qualification/new/{record_id}/materials", {"action": "submit", "material_insurance": pdf_upload()})
    assert fresh(record_id).status == "submitted"
    auth.logout()
    reviewer_login(client, auth)
    staff_post(client, url, {"transition": "approve", "version": str(fresh(record_id).version)})
    record = fresh(record_id)
    assert record.status == "approved" and record.decided_by_id is not None
    transitions = [
        log.transition
        for log in db.session.scalars(
            select(StatusLog).where(StatusLog.application_id == record_id).order_by(StatusLog.id)
        )
    ]
    assert transitions == ["submit", "receive", "return", "resubmit", "approve"]
    audited = db.session.scalars(
        select(AuditLog.after).where(AuditLog.object_id == str(record_id), AuditLog.action == "transition")
    ).all()
    assert len(audited) == 5
    subjects = {
        m.subject for m in db.session.scalars(select(Notification).where(Notification.application_id == record_id))
    }
    assert "资质申请：审核通过，资质证书已签发" in subjects
    assert reviewer.id  # the actor of the last step
    # 不予通过 needs a reason as well
    other = submitted(enterprise_user())
    staff_post(client, f"/backoffice/review/qualification_new/{other.id}/act", {"transition": "refuse", "comment": ""})
    assert fresh(other.id).status == "submitted"
    staff_post(
        client, f"/backoffice/review/qualification_new/{other.id}/act", {"transition": "refuse", "comment": "业绩不实"}
    )
    assert fresh(other.id).status == "refused"
    assert count(Certificate, Certificate.application_id == other.id) == 0


# --- 6. effects of approval --------------------------------------------------------------------


def approve(record, reviewer=None):
    apply(fresh(record.id), "approve", reviewer or make_user("Reviewer"))
    return fresh(record.id)


def test_new_qualification_issues_a_numbered_certificate_seen_in_both_registers(app, client, auth):
    from dateutil.relativedelta import relativedelta

    from app.qualification import today

    owner = enterprise_user()
    record = approve(submitted(owner))
    certificate = db.session.scalar(select(Certificate).where(Certificate.application_id == record.id))
    year = today().year
    assert certificate.number == f"皖安协资[{year}]第0001号"
    assert (certificate.kind, certificate.level, certificate.status) == ("qualification", "L3", "valid")
    assert certificate.valid_from == today()
    assert certificate.valid_until == today() + relativedelta(years=3) - dt.timedelta(days=1)
    assert (certificate.copies_original, certificate.copies_duplicate) == (1, 1)
    second = approve(submitted(enterprise_user()))
    assert db.session.scalar(select(Certificate.number).where(Certificate.application_id == second.id)) == (
        f"皖安协资[{year}]第0002号"
    )
    auth.login(owner.username)
    page = text(client.get("/qualification/certificates/"))
    assert certificate.number in page and "三级" in page and f"皖安协资[{year}]第0002号" not in page
    auth.logout()
    reviewer_login(client, auth)
    page = text(client.get("/backoffice/certificates/"))
    assert certificate.number in page and f"皖安协资[{year}]第0002号" in page


def test_an_annual_draft_submitted_in_a_later_window_reviews_that_later_year(app):
    owner = enterprise_user()
    certificate = make_certificate(owner.enterprise, "L3", valid_from=dt.date(2025, 3, 1))
    with at("2026-04-30"):
        draft = make_qualification_application(owner, "qualification_annual", certificate=certificate, review_year=1)
    with at("2027-02-01"):
        apply(fresh(draft.id), "submit", owner)
        record = approve(draft)
    assert record.review_year == 2
    notes = [e.note for e in certificate.events if e.event == "annual_review"]
    assert notes == ["年审合格 2027"]
    with at("2027-02-02"):
        from app.qualification import eligibility

        assert eligibility("qualification_annual", owner.enterprise_id).allowed is False


def test_approval_just_after_midnight_in_shanghai_issues_on_the_shanghai_day(app):
    owner = enterprise_user()
    record = submitted(owner)
    with time_machine.travel(dt.datetime(2026, 12, 31, 16, 30, tzinfo=dt.UTC), tick=True):  # 2027-01-01 00:30
        approve(record)
    certificate = db.session.scalar(select(Certificate).where(Certificate.application_id == record.id))
    assert (certificate.issued_on, certificate.valid_from) == (dt.date(2027, 1, 1), dt.date(2027, 1, 1))
    assert certificate.valid_until == dt.date(2029, 12, 31) and "[2027]" in certificate.number


def test_annual_review_records_its_year_on_the_certificate(app, client, auth):
    owner = enterprise_user()
    certificate = make_certificate(owner.enterprise, "L3", valid_from=dt.date(2025, 3, 1))
    with at("2026-02-20"):
        record = submitted(owner, "qualification_annual", certificate=certificate, review_year=1)
        approve(record)
    events = db.session.scalars(select(CertificateEvent).where(CertificateEvent.certificate_id == certificate.id)).all()
    assert [(e.event, e.note) for e in events][-1] == ("annual_review", "年审合格 2026")
    db.session.expire_all()
    assert db.session.get(Certificate, certificate.id).status == "valid"
    auth.login(owner.username)
    page = text(client.get(f"/qualification/certificates/{certificate.id}"))
    assert "年审合格 2026" in page


@pytest.mark.parametrize(
    ("kind", "held", "target"), [("qualification_upgrade", "L3", "L2"), ("qualification_downgrade", "L2", "L3")]
)
def test_level_change_issues_a_new_certificate_and_supersedes_the_old(app, kind, held, target):
    owner = enterprise_user(capital=600)
    old = make_certificate(owner.enterprise, held)
    record = approve(submitted(owner, kind, target, certificate=old, staff=10))
    db.session.expire_all()
    new = db.session.scalar(select(Certificate).where(Certificate.application_id == record.id))
    old = db.session.get(Certificate, old.id)
    assert (new.level, new.status, new.replaces_id) == (target, "valid", old.id)
    assert new.number != old.number and new.number.endswith("第0002号")
    assert old.status == "superseded"
    assert old.events[-1].event == "superseded" and new.number in old.events[-1].note


def test_renewal_keeps_the_number_with_a_suffix_and_a_new_validity(app):
    owner = enterprise_user()
    first = make_certificate(owner.enterprise, "L3", valid_from=dt.date(2023, 6, 1))  # until 2026-05-31
    with at("2026-04-01"):
        renewed = approve(submitted(owner, "qualification_renewal", certificate=first))
    db.session.expire_all()
    second = db.session.scalar(select(Certificate).where(Certificate.application_id == renewed.id))
    assert second.number == first.number + "-01"
    assert (second.valid_from, second.valid_until) == (dt.date(2026, 6, 1), dt.date(2029, 5, 31))
    assert db.session.get(Certificate, first.id).status == "superseded"
    with at("2029-04-01"):
        again = approve(submitted(owner, "qualification_renewal", certificate=second))
    third = db.session.scalar(select(Certificate).where(Certificate.application_id == again.id))
    assert third.number == first.number + "-02"
    assert (third.valid_from, third.valid_until) == (dt.date(2029, 6, 1), dt.date(2032, 5, 31))


def test_renewal_suffix_with_a_pattern_that_has_a_dash(app):
    db.session.get(Setting, "number_pattern.qualification").value = "AQ-{year}-{seq:04d}"
    db.session.commit()
    owner = enterprise_user()
    make_certificate(enterprise_user().enterprise, "L3", valid_from=dt.date(2023, 1, 1))  # AQ-2023-0001
    first = make_certificate(owner.enterprise, "L3", valid_from=dt.date(2023, 6, 1))
    assert first.number.endswith("-0002")
    with at("2026-04-01"):
        renewed = approve(submitted(owner, "qualification_renewal", certificate=first))
    number = db.session.scalar(select(Certificate.number).where(Certificate.application_id == renewed.id))
    assert number == first.number + "-01"
    assert count(Certificate, Certificate.number == number) == 1


def test_sixteen_concurrent_approvals_give_sixteen_gapless_numbers(_app, tmp_path, database_url):
    if database_url.startswith("sqlite"):
        pytest.skip("needs a database with row locks: runs on PostgreSQL in CI")
    from app.models import PlatformUser
    from concurrency import race, separate_apps
    from conftest import clean_database

    with _app.app_context():
        clean_database()
        ids = []
        for _ in range(16):
            owner = enterprise_user()
            ids.append(READY_APPLICATION["qualification_new"](owner, "received").id)
        reviewer_id = make_user("Reviewer").id

    def reviewer_of(app, record_id: int):
        def review(go) -> None:
            with app.app_context():
                record = db.session.get(Application, record_id)
                reviewer = db.session.get(PlatformUser, reviewer_id)
                _ = record.version, reviewer.roles, record.level, record.enterprise
                go()
                apply(record, "approve", reviewer)

        return review

    apps = separate_apps(16, tmp_path, database_url)
    race([reviewer_of(app, record_id) for app, record_id in zip(apps, ids, strict=True)], timeout=120)
    with _app.app_context():
        numbers = db.session.scalars(select(Certificate.number).where(Certificate.application_id.in_(ids))).all()
        assert len(numbers) == len(set(numbers)) == 16
        sequence = sorted(int(number.split("第")[1].rstrip("号")) for number in numbers)
        assert sequence == list(range(1, 17))
        clean_database()


# --- 7. 证书管理 -------------------------------------------------------------------------------


def register_rows(client, **filters) -> list[list[str]]:
    from test_review_queue import csv_rows

    response = client.get("/backoffice/certificates/csv", query_string=filters)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return csv_rows(response)


def test_register_filters_by_level_status_region_and_expiry_and_exports_them(app, client, auth):
    from app.qualification import today

    hefei = enterprise_user()
    nanjing = make_enterprise_user(role="OutOfProvinceEnterprise", region_code="320102", registered_capital=100)
    soon = make_certificate(hefei.enterprise, "L3", valid_from=today() - dt.timedelta(days=1000))  # 95 days left
    later = make_certificate(nanjing.enterprise, "L2")
    suspended = make_certificate(enterprise_user().enterprise, "L1")
    suspended.status = "suspended"
    db.session.commit()
    left = (soon.valid_until - today()).days
    reviewer_login(client, auth)
    page = text(client.get("/backoffice/certificates/"))
    assert soon.number in page and later.number in page and suspended.number in page

    def numbers(**filters) -> set[str]:
        rows = register_rows(client, **filters)
        assert rows[0][0] == "证书编号"
        return {row[0] for row in rows[1:]}

    assert numbers() == {soon.number, later.number, suspended.number}
    assert numbers(level="L2") == {later.number}
    assert numbers(status="suspended") == {suspended.number}
    assert numbers(province="32") == {later.number}
    assert numbers(province="34") == {soon.number, suspended.number}
    assert numbers(expiring=str(left)) == {soon.number}
    assert numbers(expiring=str(left - 1)) == set()
    page = text(client.get("/backoffice/certificates/", query_string={"level": "L2"}))
    assert later.number in page and soon.number not in page
    row = next(r for r in register_rows(client, level="L3") if r[0] == soon.number)
    assert hefei.enterprise.name in row and "三级" in row and "有效" in row
    member = certificates.issue("membership", enterprise_id=hefei.enterprise_id, holder_name="合肥", valid_from=today())
    db.session.commit()
    assert member.number not in numbers()  # 资质证书 by default
    assert numbers(kind="all") == {soon.number, later.number, suspended.number, member.number}
    page = client.get("/backoffice/certificates/", query_string={"kind": "all"}).get_data(as_text=True)
    assert '<option value="all" selected>全部证书</option>' in page and member.number in page


def test_suspend_revoke_reinstate_by_association_admin_with_a_reason(app, client, auth):
    owner = enterprise_user()
    certificate = make_certificate(owner.enterprise, "L3")
    admin = reviewer_login(client, auth, "AssociationAdmin")
    url = f"/backoffice/certificates/{certificate.id}/act"
    page = text(client.get(f"/backoffice/certificates/{certificate.id}"))
    assert 'value="suspend"' in page and 'value="revoke"' in page and 'value="reinstate"' not in page
    staff_post(client, url, {"action": "suspend", "reason": " "})
    assert "请填写原因" in text(client.get(f"/backoffice/certificates/{certificate.id}"))
    db.session.expire_all()
    assert db.session.get(Certificate, certificate.id).status == "valid"
    staff_post(client, url, {"action": "suspend", "reason": "年审未通过，限期整改"})
    db.session.expire_all()
    assert db.session.get(Certificate, certificate.id).status == "suspended"
    staff_post(client, url, {"action": "suspend", "reason": "再次"})  # not from suspended
    staff_post(client, url, {"action": "reinstate", "reason": "整改完成"})
    staff_post(client, url, {"action": "revoke", "reason": "弄虚作假"})
    staff_post(client, url, {"action": "reinstate", "reason": "不可恢复"})
    db.session.expire_all()
    certificate = db.session.get(Certificate, certificate.id)
    assert certificate.status == "revoked"
    history = [(e.event, e.from_status, e.to_status, e.note, e.actor_id) for e in certificate.events]
    assert history[1:] == [
        ("suspended", "valid", "suspended", "年审未通过，限期整改", admin.id),
        ("reinstated", "suspended", "valid", "整改完成", admin.id),
        ("revoked", "valid", "revoked", "弄虚作假", admin.id),
    ]
    audited = db.session.scalars(
        select(AuditLog.action).where(AuditLog.object_type == "Certificate", AuditLog.object_id == str(certificate.id))
    ).all()
    assert sorted(audited) == ["reinstated", "revoked", "suspended"]
    told = db.session.scalars(select(Notification).where(Notification.enterprise_id == owner.enterprise_id)).all()
    assert {(m.channel, m.subject) for m in told} >= {
        ("inapp", f"证书 {certificate.number}：证书已暂停"),
        ("sms", f"证书 {certificate.number}：证书已撤销"),
    }
    assert any("弄虚作假" in m.body for m in told)
    # the enterprise sees the new status and the history in 我的证书
    auth.logout()
    auth.login(owner.username)
    page = text(client.get(f"/qualification/certificates/{certificate.id}"))
    assert "已撤销" in page and "弄虚作假" in page


def test_reviewer_may_look_but_not_change_and_enterprises_cannot_reach_the_register(app, client, auth):
    owner = enterprise_user()
    certificate = make_certificate(owner.enterprise, "L3")
    reviewer_login(client, auth)
    page = text(client.get(f"/backoffice/certificates/{certificate.id}"))
    assert certificate.number in page and 'value="suspend"' not in page
    response = staff_post(client, f"/backoffice/certificates/{certificate.id}/act", {"action": "revoke", "reason": "x"})
    assert response.status_code in (302, 403)
    db.session.expire_all()
    assert db.session.get(Certificate, certificate.id).status == "valid"
    assert count(CertificateEvent, CertificateEvent.certificate_id == certificate.id) == 1
    auth.logout()
    auth.login(owner.username)
    for url in (
        "/backoffice/certificates/",
        "/backoffice/certificates/csv",
        f"/backoffice/certificates/{certificate.id}",
    ):
        response = client.get(url)
        assert response.status_code in (302, 403, 404), url
        assert certificate.number not in text(response)
    response = post(client, f"/backoffice/certificates/{certificate.id}/act", {"action": "revoke", "reason": "x"})
    assert response.status_code in (302, 403, 404)
    db.session.expire_all()
    assert db.session.get(Certificate, certificate.id).status == "valid"


# --- 8. configuration: levels, rule lines and materials as data --------------------------------


def config_post(client, url: str, data: dict):
    data = dict(data, csrf_token=csrf_token(client, "/backoffice/qualification/levels/list/"))
    return client.post(url, data=data)


LEVEL_FORM = {
    "code": "L0",
    "name": "预备级",
    "rank": "0",
    "validity_years": "1",
    "min_registered_capital": "10",
    "project_years": "2",
    "years_held_before_upgrade": "0",
    "active": "y",
}


def test_association_admin_adds_and_edits_levels_rules_and_materials_audited(app, client, auth):
    reviewer_login(client, auth, "AssociationAdmin")
    response = config_post(client, "/backoffice/qualification/levels/add", LEVEL_FORM)
    assert response.status_code == 302, text(response)[-2000:]
    added = level("L0")
    assert added.name == "预备级" and added.iso9001_required is False and added.active is True
    assert count(AuditLog, AuditLog.object_type == "QualificationLevel", AuditLog.action == "create") == 1
    # edit 三级: unticked boxes are saved as such
    three = level("L3")
    form = dict(LEVEL_FORM, code="L3", name="三级", rank="1", validity_years="3", min_registered_capital="80")
    del form["active"]
    response = config_post(client, f"/backoffice/qualification/levels/edit/{three.id}", form)
    assert response.status_code == 302, text(response)[-2000:]
    db.session.expire_all()
    three = level("L3")
    assert float(three.min_registered_capital) == 80 and three.active is False
    entry = db.session.scalar(
        select(AuditLog).where(AuditLog.object_type == "QualificationLevel", AuditLog.action == "update")
    )
    assert "50" in entry.before and "80" in entry.after
    # a rule line with a training condition, and a material that is optional
    response = config_post(
        client,
        "/backoffice/qualification/rules/add",
        {"level": str(added.id), "min_count": "2", "training_passed": "y", "sort_order": "1"},
    )
    assert response.status_code == 302, text(response)[-2000:]
    rule = db.session.scalar(select(StaffingRule).where(StaffingRule.level_id == added.id))
    assert (rule.min_count, rule.training_passed, rule.requires_credential) == (2, True, False)
    response = config_post(
        client,
        "/backoffice/qualification/materials/add",
        {
            "code": "plan",
            "name": "培训计划",
            "level": str(added.id),
            "application_kind": "",
            "accept": "pdf",
            "max_mb": "5",
            "sort_order": "50",
            "active": "y",
        },
    )
    assert response.status_code == 302, text(response)[-2000:]
    material = db.session.scalar(select(MaterialRequirement).where(MaterialRequirement.code == "plan"))
    assert (material.required, material.accept, material.application_kind) == (False, "pdf", None)
    assert count(AuditLog, AuditLog.object_type == "StaffingRule") == 1
    assert count(AuditLog, AuditLog.object_type == "MaterialRequirement") == 1
    page = text(client.get("/backoffice/qualification/rules/list/"))
    assert "技术人员不少于 2 人" in page


@pytest.mark.parametrize("role", ["Reviewer", "Enterprise"])
def test_reviewers_and_enterprises_cannot_configure(app, client, auth, role):
    if role == "Enterprise":
        auth.login(enterprise_user().username)
    else:
        reviewer_login(client, auth, role)
    for url in (
        "/backoffice/qualification/levels/list/",
        "/backoffice/qualification/rules/list/",
        "/backoffice/qualification/materials/list/",
    ):
        response = client.get(url)
        assert response.status_code in (302, 403), url
        assert "三级" not in text(response)
    three = level("L3")
    data = dict(LEVEL_FORM, code="L3", name="三级", rank="1", min_registered_capital="1")
    response = client.post(
        f"/backoffice/qualification/levels/edit/{three.id}",
        data=dict(
            data,
            csrf_token=csrf_token(
                client, "/qualification/certificates/" if role == "Enterprise" else "/backoffice/review/"
            ),
        ),
    )
    assert response.status_code in (302, 403)
    db.session.expire_all()
    assert float(level("L3").min_registered_capital) == 50
    assert count(AuditLog, AuditLog.object_type == "QualificationLevel") == 0


def test_seed_inserts_the_rules_md_defaults_once_and_never_overwrites(app):
    from app.settings import seed_defaults

    levels = {lv.code: lv for lv in db.session.scalars(select(QualificationLevel))}
    assert {code: (lv.name, lv.rank, float(lv.min_registered_capital)) for code, lv in levels.items()} == {
        "L1": ("一级", 3, 1000),
        "L2": ("二级", 2, 500),
        "L3": ("三级", 1, 50),
    }
    assert (float(levels["L1"].min_office_area), levels["L1"].min_project_count, levels["L1"].min_large_projects) == (
        300,
        5,
        2,
    )
    assert levels["L1"].iso9001_required and levels["L2"].iso9001_required and not levels["L3"].iso9001_required
    rules = {
        code: [(r.min_count, r.titles, r.positions, r.min_insurance_months) for r in lv.rules]
        for code, lv in levels.items()
    }
    assert rules == {
        "L1": [(20, None, None, 3), (2, None, "技术负责人", 3)],
        "L2": [(10, None, None, 3), (1, "高级工程师,正高级工程师", None, 3)],
        "L3": [(5, None, None, 3)],
    }
    materials = count(MaterialRequirement)
    # the association edits, then seeds again (as `make run` and deployments do)
    levels["L3"].min_registered_capital = 30
    levels["L3"].rules[0].min_count = 4
    db.session.delete(db.session.scalar(select(MaterialRequirement).where(MaterialRequirement.code == "other")))
    db.session.commit()
    seed_defaults()
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["seed"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert count(QualificationLevel) == 3 and count(StaffingRule) == 5
    assert float(level("L3").min_registered_capital) == 30 and level("L3").rules[0].min_count == 4
    assert count(MaterialRequirement) == materials - 1


def test_two_simultaneous_starts_leave_one_open_application(_app, tmp_path, database_url):
    if database_url.startswith("sqlite"):
        pytest.skip("needs a database with row locks: runs on PostgreSQL in CI")
    from app.models import PlatformUser
    from app.qualification import NotEligible
    from app.workflows import qualification as wizard
    from concurrency import race, separate_apps
    from conftest import clean_database

    with _app.app_context():
        clean_database()
        owner_id, level_id = enterprise_user().id, level("L3").id

    def starter(app):
        def start(go) -> str:
            with app.app_context():
                owner = db.session.get(PlatformUser, owner_id)
                _ = owner.roles, owner.enterprise_id
                go()
                try:
                    wizard.start("qualification_new", owner, level_id)
                    return "created"
                except NotEligible:
                    return "refused"

        return start

    outcomes = race([starter(app) for app in separate_apps(4, tmp_path, database_url)])
    with _app.app_context():
        assert sorted(outcomes) == ["created", "refused", "refused", "refused"]
        assert count(QualificationApplication) == 1
        clean_database()

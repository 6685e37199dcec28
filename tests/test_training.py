"""F10 技术培训: staff registry (新增), training batches, 批量报名 by the 报名表 workbook, results."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from app import clock, db
from app.models import AuditLog, Enrollment, StoredFile, TechnicalStaff
from app.spreadsheets import headers
from app.staff import check_staff, sign_up
from concurrency import race, separate_apps
from conftest import csrf_token
from factories import id_number, make_batch, make_enterprise_user, make_staff, make_user, person, workbook


def upload(client, batch_id: int, data: bytes, filename: str = "报名表.xlsx"):
    client.get(f"/training/batch/{batch_id}")  # 报名须知 opened
    token = csrf_token(client, f"/training/batch/{batch_id}")
    return client.post(
        f"/training/batch/{batch_id}/upload",
        data={"workbook": (io.BytesIO(data), filename), "csrf_token": token},
        content_type="multipart/form-data",
    )


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


# --- Field rules -------------------------------------------------------------------------------


def test_valid_person_passes(app):
    values, errors = check_staff(person(1))
    assert errors == {} and values["gender"] in ("male", "female") and values["insurance_months"] == 24


@pytest.mark.parametrize(
    "overrides,field,message",
    [
        ({"name": ""}, "name", "必填"),
        ({"id_number": "340104199001011234"}, "id_number", "校验位"),
        ({"id_number": "3401041990010112"}, "id_number", "18位"),
        ({"gender": "未知"}, "gender", "男"),
        ({"mobile": "12345"}, "mobile", "11位手机号"),
        ({"education": "小学"}, "education", "请从以下选项中选择"),
        ({"title": "大师"}, "title", "请从以下选项中选择"),
        ({"position": ""}, "position", "必填"),
        ({"insurance_months": "abc"}, "insurance_months", "0–600"),
        ({"insurance_months": 999}, "insurance_months", "0–600"),
    ],
)
def test_field_rules(app, overrides, field, message):
    _values, errors = check_staff(person(2, **overrides))
    assert field in errors and message in errors[field], errors


def test_gender_is_cross_checked_with_the_id_number(app):
    data = person(3)
    data["gender"] = "女" if data["gender"] == "男" else "男"
    assert "性别与身份证号不符" in check_staff(data)[1]["gender"]


def test_minors_are_refused(app):
    young = id_number(birth=f"{clock.today().year - 10}0101")
    data = person(4, id_number=young)
    data["gender"] = "男" if int(young[16]) % 2 else "女"
    assert "16" in check_staff(data)[1]["id_number"]


def test_choice_lists_are_configuration(app):
    from app.models import Setting

    db.session.get(Setting, "staff.titles").value = "工程师，特级技师"
    db.session.commit()
    assert check_staff(person(5, title="特级技师"))[1] == {}


# --- 1-1 添加技术人员 ----------------------------------------------------------------------------


def staff_form(client, data: dict, url="/training/staff/new"):
    payload = {k: v for k, v in data.items()}
    payload["gender"] = "male" if data["gender"] == "男" else "female"
    payload["csrf_token"] = csrf_token(client, "/training/")
    return client.post(url, data=payload, content_type="multipart/form-data")


def test_add_staff_through_the_portal(app, client, auth):
    user = make_enterprise_user()
    auth.login(user.username)
    page = client.get("/training/").get_data(as_text=True)
    assert "技术培训" in page and "新增" in page
    page = client.get("/training/staff/new").get_data(as_text=True)
    assert "确定" in page and "身份证号" in page
    response = staff_form(client, person(10))
    staff = db.session.scalar(select(TechnicalStaff))
    assert response.headers["Location"].endswith(f"/training/staff/{staff.id}")
    assert staff.enterprise_id == user.enterprise_id and staff.name == "技术员10"
    response = staff_form(client, person(10, name="重复的人"))
    assert response.status_code == 200 and "已登记" in response.get_data(as_text=True)
    bad = person(11)
    bad["gender"] = "男" if bad["gender"] == "女" else "女"
    response = staff_form(client, bad)
    assert "性别与身份证号不符" in response.get_data(as_text=True)
    assert count(TechnicalStaff) == 1


def test_edit_keeps_history_and_archive(app, client, auth):
    user = make_enterprise_user()
    auth.login(user.username)
    staff_form(client, person(12))
    staff = db.session.scalar(select(TechnicalStaff))
    staff_form(client, person(12, title="高级工程师"), url=f"/training/staff/{staff.id}/edit")
    db.session.expire_all()
    assert staff.title == "高级工程师"
    history = db.session.scalars(
        select(AuditLog).where(AuditLog.object_type == "TechnicalStaff").order_by(AuditLog.id)
    ).all()
    assert [h.action for h in history] == ["create", "update"] and "工程师" in history[1].before
    assert "变更记录" in client.get(f"/training/staff/{staff.id}").get_data(as_text=True)
    client.post(f"/training/staff/{staff.id}/archive", data={"csrf_token": csrf_token(client, "/training/")})
    db.session.expire_all()
    assert staff.archived is True


def test_staff_with_a_sign_up_cannot_be_deleted(app, client, auth):
    user = make_enterprise_user()
    batch = make_batch()
    auth.login(user.username)
    staff_form(client, person(13))
    staff = db.session.scalar(select(TechnicalStaff))
    client.get(f"/training/batch/{batch.id}")
    client.post(f"/training/batch/{batch.id}/signup/{staff.id}", data={"csrf_token": csrf_token(client, "/training/")})
    assert count(Enrollment) == 1
    client.post(f"/training/staff/{staff.id}/delete", data={"csrf_token": csrf_token(client, "/training/")})
    assert count(TechnicalStaff) == 1


def test_certificate_with_scan(app, client, auth):
    from test_uploads import minimal_pdf

    user = make_enterprise_user()
    auth.login(user.username)
    staff_form(client, person(14))
    staff = db.session.scalar(select(TechnicalStaff))
    token = csrf_token(client, "/training/")
    client.post(
        f"/training/staff/{staff.id}/certificates",
        data={
            "kind": "安全生产考核合格证",
            "number": "皖建安C(2025)0001",
            "grade": "C",
            "issued_on": "2025-01-01",
            "expires_on": "2028-01-01",
            "scan": (io.BytesIO(minimal_pdf()), "证书.pdf"),
            "csrf_token": token,
        },
        content_type="multipart/form-data",
    )
    page = client.get(f"/training/staff/{staff.id}").get_data(as_text=True)
    assert "皖建安C(2025)0001" in page
    response = client.post(
        f"/training/staff/{staff.id}/certificates",
        data={"kind": "x", "number": "y", "issued_on": "2025-01-02", "expires_on": "2025-01-01", "csrf_token": token},
    )
    assert "早于发证日期" in client.get(response.headers["Location"]).get_data(as_text=True)


# --- 1-2 批量报名 ----------------------------------------------------------------------------------


def test_template_needs_the_notice_and_round_trips(app, client, auth):
    user = make_enterprise_user()
    batch = make_batch()
    auth.login(user.username)
    assert client.get(f"/training/batch/{batch.id}/template.xlsx").status_code == 302  # notice not opened
    page = client.get(f"/training/batch/{batch.id}").get_data(as_text=True)
    assert "报名须知" in page and "报名表下载" in page and "上传报名表" in page and "确定" in page
    response = client.get(f"/training/batch/{batch.id}/template.xlsx")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames[:2] == ["填写说明", "报名表"]
    sheet = book["报名表"]
    assert [c.value for c in sheet[1]] == headers()
    assert sheet["C2"].number_format == "@" and sheet["D2"].number_format == "@"
    assert len(sheet.data_validations.dataValidation) >= 5
    rows = [person(i) for i in range(20, 23)]
    rows[0]["id_number"] = rows[0]["id_number"][:-1] + rows[0]["id_number"][-1].lower()  # lower-case x is fine too
    for index, row in enumerate(rows, start=2):
        for column, key in enumerate(
            ["name", "gender", "id_number", "mobile", "education", "major", "title", "position", "insurance_months"],
            start=1,
        ):
            sheet.cell(row=index, column=column, value=row[key])
    out = io.BytesIO()
    book.save(out)
    response = upload(client, batch.id, out.getvalue())
    assert response.headers["Location"].endswith("/training/")
    assert "已报名 3 人" in client.get("/training/").get_data(as_text=True)
    assert count(Enrollment) == 3 and count(TechnicalStaff) == 3


def test_every_bad_row_is_reported_and_nothing_imported(app, client, auth):
    user = make_enterprise_user()
    batch = make_batch()
    auth.login(user.username)
    rows = [person(i) for i in range(30, 40)]
    rows[1]["id_number"] = "340104199001011234"
    rows[3]["mobile"] = "123"
    rows[5]["title"] = "大师"
    rows[7]["id_number"] = rows[6]["id_number"]
    rows[7]["gender"] = rows[6]["gender"]
    rows[9]["name"] = ""
    response = upload(client, batch.id, workbook(rows))
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "本次未导入任何数据" in page
    for row, column in ((3, "身份证号"), (5, "手机号"), (7, "职称"), (9, "身份证号"), (11, "姓名")):
        assert f"<td>{row}</td><td>{column}</td>" in page, (row, column)
    assert "与本文件第 8 行重复" in page
    assert count(Enrollment) == 0 and count(TechnicalStaff) == 0
    error_file = db.session.scalar(select(StoredFile).where(StoredFile.purpose == "training_errors"))
    download = client.get(f"/files/{error_file.id}")
    assert download.status_code == 200
    sheet = load_workbook(io.BytesIO(download.data))["报名表"]
    assert sheet.cell(row=1, column=10).value == "错误说明"
    assert "校验位" in sheet.cell(row=3, column=10).value and sheet.cell(row=2, column=10).value in (None, "")


def test_sign_up_refusals(app, client, auth):
    user = make_enterprise_user()
    auth.login(user.username)
    full = make_batch(capacity=2)
    response = upload(client, full.id, workbook([person(i) for i in range(40, 43)]))
    assert "名额不足：剩余 2 个名额，本次报名 3 人" in response.get_data(as_text=True)
    closed = make_batch(signup_closes_on=clock.today() - dt.timedelta(days=1))
    assert "报名时间" in upload(client, closed.id, workbook([person(44)])).get_data(as_text=True)
    batch = make_batch()
    response = upload(client, batch.id, b"not a workbook", filename="x.xlsx")
    assert "xlsx" in client.get(response.headers["Location"]).get_data(as_text=True)
    bad_header = Workbook()
    bad_header.active.append(["姓名", "年龄"])
    out = io.BytesIO()
    bad_header.save(out)
    response = upload(client, batch.id, out.getvalue())
    assert "表头与模板不一致" in client.get(response.headers["Location"]).get_data(as_text=True)
    upload(client, batch.id, workbook([person(45)]))
    again = upload(client, batch.id, workbook([person(45)]))
    assert "此人已报名本批次培训" in again.get_data(as_text=True)
    assert count(Enrollment) == 1


def test_existing_staff_are_updated_not_duplicated(app, client, auth):
    user = make_enterprise_user()
    auth.login(user.username)
    staff_form(client, person(50))
    batch = make_batch()
    upload(client, batch.id, workbook([person(50, title="高级工程师"), person(51)]))
    assert count(TechnicalStaff) == 2
    assert db.session.scalar(select(TechnicalStaff.title).where(TechnicalStaff.name == "技术员50")) == "高级工程师"


def test_five_thousand_rows(app):
    user = make_enterprise_user()
    batch = make_batch(capacity=6000)
    rows = [
        (
            i + 2,
            person(
                1000 + i,
                id_number=id_number(
                    region="340104", birth=f"19{70 + i % 25}{1 + i % 12:02d}{1 + i % 28:02d}", seq=i % 1000
                ),
            ),
        )
        for i in range(5000)
    ]
    for _number, row in rows:
        row["gender"] = "男" if int(row["id_number"][16]) % 2 else "女"
    result = sign_up(batch.id, user.enterprise_id, rows)
    assert result.errors == [] and result.enrolled == 5000
    assert count(Enrollment) == 5000


# --- Back office ---------------------------------------------------------------------------------


def test_results_and_certificates(app, client, auth):
    owner = make_enterprise_user()
    batch = make_batch(starts_on=clock.today() - dt.timedelta(days=1))  # results only once training began
    sign_up(batch.id, owner.enterprise_id, [(2, person(60)), (3, person(61))])
    reviewer = make_user("Reviewer")
    auth.login(reviewer.username)
    ids = [e.id for e in db.session.scalars(select(Enrollment).order_by(Enrollment.id))]
    token = csrf_token(client, "/backoffice/training/")
    client.post(f"/backoffice/training/{batch.id}/act", data={"action": "pass", "ids": ids, "csrf_token": token})
    assert count(Enrollment) == 2 and not db.session.scalar(
        select(Enrollment.certificate_number).limit(1)
    )  # not confirmed yet
    client.post(f"/backoffice/training/{batch.id}/act", data={"action": "confirm", "ids": ids, "csrf_token": token})
    client.post(f"/backoffice/training/{batch.id}/act", data={"action": "pass", "ids": ids[:1], "csrf_token": token})
    client.post(f"/backoffice/training/{batch.id}/act", data={"action": "fail", "ids": ids[1:], "csrf_token": token})
    db.session.expire_all()
    passed, failed = db.session.scalars(select(Enrollment).order_by(Enrollment.id)).all()
    year = clock.today().year
    assert (passed.status, passed.certificate_number) == ("passed", f"皖安协培[{year}]第00001号")
    assert (failed.status, failed.certificate_number) == ("failed", None)
    auth.logout()
    auth.login(owner.username)
    assert f"皖安协培[{year}]第00001号" in client.get(f"/training/staff/{passed.staff_id}").get_data(as_text=True)


def test_staff_search_flags_people_on_two_enterprises(app, client, auth):
    first, second = make_enterprise_user(), make_enterprise_user(name="乙安防公司")
    batch = make_batch()
    sign_up(batch.id, first.enterprise_id, [(2, person(70))])
    other_batch = make_batch(name="第二期")
    sign_up(other_batch.id, second.enterprise_id, [(2, person(70))])
    auth.login(make_user("Reviewer").username)
    page = client.get("/backoffice/staff/?flagged=1").get_data(as_text=True)
    assert page.count("另有 1 家企业") == 2
    staff = db.session.scalar(select(TechnicalStaff).where(TechnicalStaff.enterprise_id == first.enterprise_id))
    assert "乙安防公司" in client.get(f"/backoffice/staff/{staff.id}").get_data(as_text=True)


def test_enterprises_cannot_manage_training(app, client, auth):
    auth.login(make_enterprise_user().username)
    for url in ("/backoffice/training/", "/backoffice/staff/", "/backoffice/training/batches/list/"):
        assert client.get(url).status_code in (302, 403), url


def test_last_seats_race(_app, tmp_path, database_url):
    """Two enterprises upload at the same moment for the last seats: never over capacity."""
    if database_url.startswith("sqlite"):
        pytest.skip("needs a database with row locks: runs on PostgreSQL in CI")
    from conftest import clean_database

    with _app.app_context():
        clean_database()
        batch_id = make_batch(capacity=5).id
        enterprises = [make_enterprise_user().enterprise_id, make_enterprise_user().enterprise_id]

    def signer(app, enterprise_id: int, offset: int):
        def attempt(go):
            with app.app_context():
                rows = [(i + 2, person(offset + i)) for i in range(3)]
                go()
                return sign_up(batch_id, enterprise_id, rows)

        return attempt

    apps = separate_apps(2, tmp_path, database_url)
    results = race([signer(app, eid, 200 + n * 10) for n, (app, eid) in enumerate(zip(apps, enterprises, strict=True))])
    with _app.app_context():
        assert count(Enrollment) == 3
        assert sorted(r.enrolled for r in results) == [0, 3]
        assert any("名额不足" in message for r in results for _row, _col, message in r.errors)
        clean_database()


def test_identity_of_a_signed_up_person_cannot_change(app, client, auth):
    user = make_enterprise_user()
    batch = make_batch()
    auth.login(user.username)
    staff_form(client, person(80))
    staff = db.session.scalar(select(TechnicalStaff))
    client.get(f"/training/batch/{batch.id}")
    client.post(f"/training/batch/{batch.id}/signup/{staff.id}", data={"csrf_token": csrf_token(client, "/training/")})
    response = staff_form(client, person(80, name="冒名者"), url=f"/training/staff/{staff.id}/edit")
    assert "不能修改" in response.get_data(as_text=True)
    response = staff_form(client, person(80, title="高级工程师"), url=f"/training/staff/{staff.id}/edit")
    db.session.expire_all()
    assert (staff.name, staff.title) == ("技术员80", "高级工程师")
    # the sheet cannot rename a registered person either
    other_batch = make_batch(name="第三期")
    response = upload(client, other_batch.id, workbook([person(80, name="冒名者")]))
    assert "不一致" in response.get_data(as_text=True)


def test_another_employers_sign_up_is_named_as_such(app):
    first, second = make_enterprise_user(), make_enterprise_user()
    batch = make_batch()
    sign_up(batch.id, first.enterprise_id, [(2, person(90))])
    result = sign_up(batch.id, second.enterprise_id, [(2, person(90))])
    assert any("其他单位" in message for _row, _column, message in result.errors)


def test_single_sign_up_from_the_staff_list(app, client, auth):
    user = make_enterprise_user()
    batch = make_batch()
    auth.login(user.username)
    staff_form(client, person(95))
    staff = db.session.scalar(select(TechnicalStaff))
    page = client.get("/training/").get_data(as_text=True)
    # The list is one form: a checkbox per person, one 报名 button per open batch.
    assert f'name="staff_ids" value="{staff.id}"' in page and f"/training/batch/{batch.id}/signup" in page
    token = csrf_token(client, "/training/")
    chosen = {"staff_ids": [staff.id], "csrf_token": token}
    response = client.post(f"/training/batch/{batch.id}/signup", data=chosen)
    assert response.headers["Location"].endswith(f"/training/batch/{batch.id}")  # the notice must be read first
    client.get(f"/training/batch/{batch.id}")
    response = client.post(f"/training/batch/{batch.id}/signup", data=chosen)
    assert response.headers["Location"].endswith("/training/")
    assert count(Enrollment) == 1


# --- Actions that are not one click away -----------------------------------------------------------


def test_results_are_refused_before_the_first_training_day(app, client, auth):
    owner = make_enterprise_user()
    batch = make_batch()  # starts in 30 days
    sign_up(batch.id, owner.enterprise_id, [(2, person(80))])
    auth.login(make_user("Reviewer").username)
    ids = [e.id for e in db.session.scalars(select(Enrollment))]
    token = csrf_token(client, "/backoffice/training/")
    client.post(f"/backoffice/training/{batch.id}/act", data={"action": "confirm", "ids": ids, "csrf_token": token})
    page = client.post(
        f"/backoffice/training/{batch.id}/act",
        data={"action": "pass", "ids": ids, "csrf_token": token},
        follow_redirects=True,
    ).get_data(as_text=True)
    db.session.expire_all()
    enrollment = db.session.scalar(select(Enrollment))
    assert (enrollment.status, enrollment.certificate_id) == ("confirmed", None)
    assert f"自培训首日（{batch.starts_on.isoformat()}）起才能登记考核结果" in page


def test_staff_already_signed_up_show_signed_up(app, client, auth):
    owner = make_enterprise_user()
    batch = make_batch()
    sign_up(batch.id, owner.enterprise_id, [(2, person(81))])
    free = make_staff(owner.enterprise, 82)
    enrolled = db.session.scalar(select(Enrollment)).staff_id
    auth.login(owner.username)
    listing = client.get("/training/").get_data(as_text=True)
    assert listing.count(f"已报名：{batch.name}") == 1 and listing.count(f"报名：{batch.name}") == 2
    assert f'name="staff_ids" value="{enrolled}"' not in listing  # signed up for every open batch: no box
    assert f'name="staff_ids" value="{free.id}"' in listing
    detail = client.get(f"/training/staff/{enrolled}").get_data(as_text=True)
    assert f"已报名：{batch.name}" in detail and f"/signup/{enrolled}" not in detail


def test_deleting_staff_asks_first_naming_the_person(app, client, auth):
    owner = make_enterprise_user()
    staff = make_staff(owner.enterprise, 83, name="王五")
    staff_id, id_no = staff.id, staff.id_number
    auth.login(owner.username)
    detail = client.get(f"/training/staff/{staff_id}").get_data(as_text=True)
    assert f'href="/training/staff/{staff_id}/delete"' in detail  # a link to the question, not a delete form
    question = client.get(f"/training/staff/{staff_id}/delete").get_data(as_text=True)
    assert "王五" in question and id_no in question and "删除王五" in question
    assert db.session.get(TechnicalStaff, staff_id) is not None
    client.post(f"/training/staff/{staff_id}/delete", data={"csrf_token": csrf_token(client, "/training/")})
    db.session.expire_all()
    assert db.session.get(TechnicalStaff, staff_id) is None


def test_staff_counted_in_a_qualification_application_cannot_be_deleted(app, client, auth):
    from factories import make_qualification_application, team

    owner = make_enterprise_user()
    make_qualification_application(owner, "qualification_new", "withdrawn", staff=1, materials=False, projects=1)
    counted = team(owner.enterprise, 1)[0]
    auth.login(owner.username)
    assert f"/training/staff/{counted.id}/delete" not in client.get(f"/training/staff/{counted.id}").get_data(
        as_text=True
    )
    page = client.post(
        f"/training/staff/{counted.id}/delete",
        data={"csrf_token": csrf_token(client, "/training/")},
        follow_redirects=True,
    ).get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(TechnicalStaff, counted.id) is not None
    assert "不能删除" in page and "归档" in page


def test_batch_enrolment_list_pages_through_every_sign_up(app, client, auth):
    from factories import make_enterprise

    batch = make_batch(capacity=500)
    enterprise = make_enterprise()
    assert sign_up(batch.id, enterprise.id, [(i + 2, person(700 + i)) for i in range(30)]).enrolled == 30
    auth.login(make_user("Reviewer").username)
    first = client.get(f"/backoffice/training/{batch.id}/?size=25").get_data(as_text=True)
    second = client.get(f"/backoffice/training/{batch.id}/?size=25&page=2").get_data(as_text=True)
    assert first.count('name="ids"') == 25 and second.count('name="ids"') == 5
    assert "共 30 条" in first and "下一页" in first and "下一页" not in second

"""The 报名表 as office software writes it: number cells never become ID numbers, structural
problems are named, the template and the error workbook keep the ID and phone columns as text.

Files under tests/data/ were written by LibreOffice Calc 7.4 (tests/data/make_sheets.py rebuilds
them); the tests that need LibreOffice itself are skipped where `soffice` is missing.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select
from stdnum.cn import ric
from test_training import upload

from app import db
from app.models import Enrollment, StoredFile, TechnicalStaff
from app.spreadsheets import MAX_ROWS, error_workbook, headers, read_rows, template
from app.staff import check_staff, sign_up
from factories import make_batch, make_enterprise_user, person, workbook

DATA = Path(__file__).parent / "data"
NUMBER_CELL_ID = "单元格为数字格式，18位身份证号会被表格软件截断，请把该列设为文本后重新输入"
NUMBER_CELL_PHONE = "单元格为数字格式"
KEYS = ["name", "gender", "id_number", "mobile", "education", "major", "title", "position", "insurance_months"]


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def flashed(client, response) -> str:
    assert response.status_code == 302, response.status_code
    return client.get(response.headers["Location"]).get_data(as_text=True)


def sheet_xml(data: bytes, part: str = "xl/worksheets/sheet1.xml") -> str:
    return zipfile.ZipFile(io.BytesIO(data)).read(part).decode()


def valid_id(birth: str = "19870612", seq: int = 2) -> str:
    body = f"340104{birth}{seq:03d}"
    return body + ric.calc_check_digit(body + "0")


def soffice_convert(source: Path, target: str, out_dir: Path) -> Path:
    profile = out_dir / "lo-profile"
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation=file://{profile}",
            "--headless",
            "--convert-to",
            target,
            "--outdir",
            str(out_dir),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    return out_dir / f"{source.stem}.{target.split(':')[0]}"


needs_soffice = pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) is not installed")


# --- 1. A number cell never becomes an ID number ------------------------------------------------


def test_a_csv_saved_by_libreoffice_is_refused_for_its_number_cells(app, client, auth):
    data = (DATA / "csv-numbers.xlsx").read_bytes()
    assert '<c r="C4" s="0" t="n"><v>3.4010419870612E+017</v></c>' in sheet_xml(data)  # a real number cell
    user = make_enterprise_user()
    batch = make_batch()
    auth.login(user.username)
    page = upload(client, batch.id, data, filename="csv-numbers.xlsx").get_data(as_text=True)
    for row in (2, 3, 4):
        assert f"<td>{row}</td><td>身份证号</td><td>{NUMBER_CELL_ID}</td>" in page, row
    # an 11-digit phone number survives a number cell; the refusal is about the cell, not the digits
    assert "<td>手机号</td>" not in page
    assert "校验位" not in page and "性别" not in page.split("upload-errors", 1)[1]
    assert count(TechnicalStaff) == 0 and count(Enrollment) == 0


@pytest.mark.parametrize(
    "number",
    [
        3.40104199003121e17,  # what a spreadsheet keeps of 340104199003121234
        float("340104198706120027"),
        float(valid_id()),  # rounds to …120000
        int(valid_id()),  # an exact, valid ID number in a number cell is refused all the same
        34010419870612002,  # 17 digits
        3401041987061200271,  # 19 digits
    ],
)
def test_no_number_cell_is_ever_stored_as_an_id_number(app, number):
    user = make_enterprise_user()
    batch = make_batch()
    row = person(1, id_number=number)
    row["gender"] = "男" if int(str(int(number))[16]) % 2 else "女"
    data = workbook([row])
    assert re.search(r'<c r="C2"( t="n")?><v>[0-9.eE+]+</v></c>', sheet_xml(data)), "not a number cell"
    rows = read_rows(data)
    assert isinstance(rows[0][1]["id_number"], int | float)
    values, errors = check_staff(rows[0][1])
    assert errors == {"id_number": NUMBER_CELL_ID} and values["id_number"] == ""
    result = sign_up(batch.id, user.enterprise_id, rows)
    assert result.errors == [(2, "身份证号", NUMBER_CELL_ID)]
    assert count(TechnicalStaff) == 0 and count(Enrollment) == 0


@pytest.mark.parametrize(
    "mobile,refused",
    [
        (13912345678, False),
        (13912345678.0, False),
        ("13912345678", False),
        (139123456789, True),
        (1391234567, True),
        (13912345678.5, True),
        (1.3912345678e15, True),
        (-13912345678, True),
        (10**400, True),
        (float("inf"), True),
    ],
)
def test_phone_numbers_in_number_cells(app, mobile, refused):
    if isinstance(mobile, int) and mobile > 10**300 or mobile == float("inf"):
        raw = person(2, mobile=mobile)  # no spreadsheet writes these; the rule must not crash on them
    else:
        raw = read_rows(workbook([person(2, mobile=mobile)]))[0][1]
        assert raw["mobile"] == mobile
    _values, errors = check_staff(raw)
    if refused:
        assert NUMBER_CELL_PHONE in errors["mobile"] and "文本" in errors["mobile"]
    else:
        assert errors == {}


# --- 2. Template and error workbook keep ID and phone as text -----------------------------------


def column_styles(data: bytes, sheet_part: str) -> dict[int, str]:
    """{column number: numFmtId} of the sheet's <col style=…> entries."""
    archive = zipfile.ZipFile(io.BytesIO(data))
    xml = archive.read(sheet_part).decode()
    styles = archive.read("xl/styles.xml").decode()
    xfs = re.findall(r"<xf [^>]*>", re.search(r"<cellXfs.*?</cellXfs>", styles, re.S).group(0))
    found = {}
    for col in re.findall(r"<col [^>]*>", xml):
        style = re.search(r'style="(\d+)"', col)
        if style:
            number_format = re.search(r'numFmtId="(\d+)"', xfs[int(style.group(1))]).group(1)
            first, last = (int(re.search(rf'{a}="(\d+)"', col).group(1)) for a in ("min", "max"))
            for column in range(first, last + 1):
                found[column] = number_format
    return found


def template_sheet_part(data: bytes) -> str:
    book = load_workbook(io.BytesIO(data), read_only=True)
    index = book.sheetnames.index("报名表") + 1
    return f"xl/worksheets/sheet{index}.xml"


def test_template_formats_id_and_phone_as_text_to_the_last_row(app):
    data = template("第一期", "须知")
    # columns C and D carry the text format (numFmtId 49, "@") as column styles: every row
    styles = column_styles(data, template_sheet_part(data))
    assert styles.get(3) == "49" and styles.get(4) == "49"
    book = load_workbook(io.BytesIO(data))
    sheet = book["报名表"]
    ranges = {str(v.sqref) for v in sheet.data_validations.dataValidation}
    for letter in "BEGHI":
        assert f"{letter}2:{letter}{MAX_ROWS + 1}" in ranges, letter
    guide = "\n".join(str(c.value) for c in book["填写说明"]["A"] if c.value)
    assert "身份证号和手机号列已设为文本格式" in guide and "15位" in guide
    assert len(data) < 40_000  # a column style, not 40,000 formatted cells


@needs_soffice
def test_libreoffice_applies_the_text_columns_and_the_resaved_template_imports(app, tmp_path):
    data = template("第一期", "须知")
    book = load_workbook(io.BytesIO(data))
    sheet = book["报名表"]
    rows = [person(i) for i in range(1, 4)]
    for index, row in enumerate(rows, start=2):
        for column, key in enumerate(KEYS, start=1):
            sheet.cell(row=index, column=column, value=row[key])
    source = tmp_path / "filled.xlsx"
    book.save(source)
    flat = soffice_convert(source, "fods", tmp_path).read_text()
    text_styles = set(re.findall(r'<number:text-style style:name="([^"]+)"', flat))
    cell_styles = dict(re.findall(r'<style:style style:name="(ce\d+)"[^>]*style:data-style-name="([^"]+)"', flat))
    table = flat[flat.index('table:name="报名表"') :]
    columns = re.findall(r"<table:table-column [^>]*>", table[: table.index("<table:table-row")])
    positions = []
    for column in columns:
        repeat = int(re.search(r'number-columns-repeated="(\d+)"', column).group(1)) if "repeated" in column else 1
        style = re.search(r'default-cell-style-name="([^"]+)"', column).group(1)
        positions += [style] * repeat
    for index in (2, 3):  # columns C and D, as LibreOffice holds them: text for every row
        assert cell_styles.get(positions[index]) in text_styles, (index, positions[index])
    resaved = soffice_convert(source, "xlsx", tmp_path / "xlsx").read_bytes()
    assert [values["name"] for _n, values in read_rows(resaved)] == [row["name"] for row in rows]


def test_error_workbook_keeps_text_columns_and_writes_no_formula(app, client, auth):
    user = make_enterprise_user()
    batch = make_batch()
    auth.login(user.username)
    hostile = [
        person(1, name='=HYPERLINK("http://example.com","点我")'),
        person(2, major="+1+cmd|' /C calc'!A0"),
        person(3, major="-2+3", title="@SUM(1)"),
        person(4, id_number=3.40104199003121e17),
    ]
    book = load_workbook(io.BytesIO(workbook(hostile)))
    book["报名表"]["A2"].data_type = "s"  # typed as text ('=…), as a clerk's cell would be
    out = io.BytesIO()
    book.save(out)
    assert "<f>" not in sheet_xml(out.getvalue())
    page = upload(client, batch.id, out.getvalue()).get_data(as_text=True)
    assert "本次未导入任何数据" in page
    stored = db.session.scalar(select(StoredFile).where(StoredFile.purpose == "training_errors"))
    data = client.get(f"/files/{stored.id}").data
    xml = sheet_xml(data)
    assert "<f>" not in xml and "<f " not in xml
    styles = column_styles(data, "xl/worksheets/sheet1.xml")
    assert styles.get(3) == "49" and styles.get(4) == "49"
    sheet = load_workbook(io.BytesIO(data))["报名表"]
    assert sheet["A2"].value.startswith("=HYPERLINK") and sheet["A2"].data_type == "s" and sheet["A2"].quotePrefix
    assert sheet["F3"].data_type == "s" and sheet["F4"].data_type == "s" and sheet["G4"].data_type == "s"
    assert NUMBER_CELL_ID in sheet["J5"].value and sheet["C5"].fill.fgColor.rgb.endswith("FFC7CE")
    assert count(TechnicalStaff) == 0


def test_error_workbook_function_marks_cells(app):
    data = error_workbook([(2, person(1, name="+x"))], [(2, "姓名", "问题"), (0, "", "=总体问题")])
    sheet = load_workbook(io.BytesIO(data))["报名表"]
    assert sheet["A2"].value == "+x" and sheet["A2"].data_type == "s" and sheet["J2"].value == "姓名：问题"
    assert sheet["A4"].value == "=总体问题" and sheet["A4"].data_type == "s"


# --- 3. Structural problems named precisely -----------------------------------------------------


def test_a_renamed_sheet_is_found_by_its_header_row(app, client, auth):
    user = make_enterprise_user()
    batch = make_batch()
    auth.login(user.username)
    data = (DATA / "renamed-sheet.xlsx").read_bytes()
    assert load_workbook(io.BytesIO(data), read_only=True).sheetnames == ["填写说明", "报名表 (2)"]
    response = upload(client, batch.id, data)
    assert response.headers["Location"].endswith("/training/"), flashed(client, response)
    assert count(Enrollment) == 2


def test_no_sheet_named_or_shaped_like_the_template(app, client, auth):
    user = make_enterprise_user()
    batch = make_batch()
    auth.login(user.username)
    book = Workbook()
    book.active.title = "Sheet1"
    book.active.append(["随便", "什么"])
    out = io.BytesIO()
    book.save(out)
    page = flashed(client, upload(client, batch.id, out.getvalue()))
    assert "未找到名为“报名表”的工作表" in page and "Sheet1" in page
    assert count(TechnicalStaff) == 0


@pytest.mark.parametrize(
    "name,expected",
    [
        ("moved-header", ["表头在第3行，应在第1行"]),
        ("serial-column", ["第1行 A列“序号”是模板中没有的列", "模板的A列应为“姓名*”"]),
        (
            "other-wording",
            ["第1行 C列为“身份证”，模板此处应为“身份证号*”", "第1行 D列为“联系电话”，模板此处应为“手机号*”"],
        ),
    ],
)
def test_header_problems_name_the_row_and_column(app, client, auth, name, expected):
    user = make_enterprise_user()
    batch = make_batch()
    auth.login(user.username)
    page = flashed(client, upload(client, batch.id, (DATA / f"{name}.xlsx").read_bytes()))
    assert "表头与模板不一致" in page
    for text in expected:
        assert text in page, text
    assert count(TechnicalStaff) == 0


def test_header_problem_for_wording_lists_only_the_columns_that_differ(app):
    book = Workbook()
    book.active.title = "报名表"
    titles = headers()
    titles[5] = "所学专业"
    book.active.append(titles)
    out = io.BytesIO()
    book.save(out)
    with pytest.raises(ValueError) as refused:
        read_rows(out.getvalue())
    message = str(refused.value)
    assert "F列为“所学专业”，模板此处应为“专业”" in message and "C列" not in message


def test_an_ods_file_is_asked_to_be_saved_as_xlsx(app, client, auth):
    user = make_enterprise_user()
    batch = make_batch()
    auth.login(user.username)
    page = flashed(client, upload(client, batch.id, (DATA / "template.ods").read_bytes(), filename="报名表.ods"))
    assert "请另存为 .xlsx 后上传" in page


def test_full_width_digits_and_spaces_are_normalised(app, client, auth):
    user = make_enterprise_user()
    batch = make_batch()
    auth.login(user.username)
    response = upload(client, batch.id, (DATA / "full-width.xlsx").read_bytes())
    assert response.headers["Location"].endswith("/training/"), flashed(client, response)
    staff = db.session.scalar(select(TechnicalStaff))
    assert staff.name == "张三"
    assert re.fullmatch(r"\d{17}[\dX]", staff.id_number) and re.fullmatch(r"1\d{10}", staff.mobile)
    assert staff.insurance_months == 12


def test_full_width_in_the_form_rules_too(app):
    width = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
    data = person(5)
    values, errors = check_staff(
        {
            **data,
            "name": "李　四",
            "id_number": data["id_number"].translate(width),
            "mobile": data["mobile"].translate(width),
            "insurance_months": "２４",
        }
    )
    assert errors == {}
    assert (values["name"], values["id_number"], values["mobile"], values["insurance_months"]) == (
        "李四",
        data["id_number"],
        data["mobile"],
        24,
    )

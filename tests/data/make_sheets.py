"""Rebuild the 报名表 files in this folder with LibreOffice (the office software clerks use).

Each file starts as a CSV or a workbook written by openpyxl and is then opened and saved by
LibreOffice Calc, so that what the tests read is what office software writes (its shared strings,
styles, dimensions, and a CSV's numbers turned into number cells). Run from the repository root:

    .venv/bin/python tests/data/make_sheets.py

Needs `soffice` (LibreOffice 7.4 made the files checked in).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from openpyxl import Workbook
from stdnum.cn import ric

HERE = Path(__file__).resolve().parent
HEADERS = ["姓名*", "性别*", "身份证号*", "手机号*", "学历*", "专业", "职称*", "岗位*", "本单位社保月数*"]


def id_number(birth: str, seq: int) -> str:
    body = f"340104{birth}{seq:03d}"
    return body + ric.calc_check_digit(body + "0")


def gender(number: str) -> str:
    return "男" if int(number[16]) % 2 else "女"


def person(i: int) -> list:
    number = id_number(f"1987{1 + i % 12:02d}{10 + i:02d}", 20 + i)
    return [f"技术员{i}", gender(number), number, f"1391234{i:04d}", "本科", "电子信息", "工程师", "施工员", 12]


def soffice(source: Path, target_ext: str, out_dir: Path, infilter: str | None = None) -> Path:
    profile = Path(tempfile.mkdtemp(prefix="lo-profile-"))
    command = ["soffice", f"-env:UserInstallation=file://{profile}", "--headless"]
    if infilter:
        command.append(f"--infilter={infilter}")
    command += ["--convert-to", target_ext, "--outdir", str(out_dir), str(source)]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    shutil.rmtree(profile, ignore_errors=True)
    return out_dir / (source.stem + "." + target_ext.split(":")[0])


def resave(book: Workbook, name: str, work: Path, ext: str = "xlsx") -> None:
    source = work / f"{name}.src.xlsx"
    book.save(source)
    converted = soffice(source, ext, work / "out")
    shutil.copy(converted, HERE / f"{name}.{ext}")


def sheets(title: str = "报名表") -> tuple[Workbook, object]:
    book = Workbook()
    guide = book.active
    guide.title = "填写说明"
    guide.append(["培训批次：2026年第一期安防技术培训"])
    sheet = book.create_sheet(title)
    return book, sheet


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="make-sheets-"))
    (work / "out").mkdir()

    # A CSV opened in Calc and saved as .xlsx: the ID and phone columns become number cells.
    rows = [
        HEADERS,
        person(1),
        person(2),
        ["李四", "男", "340104198706120027", "13912345678", "本科", "", "工程师", "施工员", "24"],
    ]
    csv = work / "csv-numbers.csv"
    csv.write_text("\n".join(",".join(str(v) for v in row) for row in rows) + "\n", encoding="utf-8")
    converted = soffice(csv, "xlsx:Calc MS Excel 2007 XML", work / "out", infilter="CSV:44,34,76,1")
    shutil.copy(converted, HERE / "csv-numbers.xlsx")

    book, sheet = sheets("报名表 (2)")
    for row in (HEADERS, person(3), person(4)):
        sheet.append(row)
    resave(book, "renamed-sheet", work)

    book, sheet = sheets()
    sheet.append(["2026年第一期安防技术培训报名表"])
    sheet.append([])
    for row in (HEADERS, person(5)):
        sheet.append(row)
    resave(book, "moved-header", work)

    book, sheet = sheets()
    sheet.append(["序号", *HEADERS])
    sheet.append([1, *person(6)])
    resave(book, "serial-column", work)

    book, sheet = sheets()
    sheet.append(["姓名", "性别", "身份证", "联系电话", "学历", "专业", "职称", "岗位", "本单位社保月数"])
    sheet.append(person(7))
    resave(book, "other-wording", work)

    book, sheet = sheets()
    width = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
    row = person(8)
    row[0] = "张　三"
    row[2] = row[2].translate(width)
    row[3] = row[3].translate(width)
    row[8] = "１２"
    for values in (HEADERS, row):
        sheet.append(values)
    resave(book, "full-width", work)

    book, sheet = sheets()
    for values in (HEADERS, person(9)):
        sheet.append(values)
    resave(book, "template", work, ext="ods")

    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if not shutil.which("soffice"):
        sys.exit("soffice (LibreOffice) is needed")
    main()

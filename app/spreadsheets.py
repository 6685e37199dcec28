"""The 报名表 workbook: template download, reading an upload, and the same workbook with an error column."""

from __future__ import annotations

import io
from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from .staff import FIELDS, staff_choices

SHEET = "报名表"
ERROR_FILL = PatternFill("solid", fgColor="FFC7CE")
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
MAX_ROWS = 20_000


class SheetRejected(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def headers() -> list[str]:
    """Column titles of the 报名表, always in Chinese: a sheet must import whatever language the
    uploader's interface was in when it was downloaded."""
    with force_locale("zh"):
        return [f"{label}*" if required else str(label) for _key, label, required in FIELDS]


def template(batch_name: str, notice: str) -> bytes:
    """报名表 with Chinese headers, dropdowns for fixed choices, ID and phone columns as text."""
    choices = staff_choices()
    book = Workbook()
    sheet = book.active
    sheet.title = SHEET
    sheet.append(headers())
    for index, header in enumerate(headers(), start=1):
        cell = sheet.cell(row=1, column=index)
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
        sheet.column_dimensions[get_column_letter(index)].width = max(12, len(header) * 2 + 4)
    keys = [key for key, _label, _required in FIELDS]
    last = MAX_ROWS + 1
    # Text format keeps the leading digits and the final X of ID numbers, and phone numbers intact.
    for key in ("id_number", "mobile"):
        letter = get_column_letter(keys.index(key) + 1)
        for row in range(2, 502):
            sheet[f"{letter}{row}"].number_format = "@"
        sheet.column_dimensions[letter].width = 22
    options = {
        "gender": ["男", "女"],
        "education": choices["educations"],
        "title": choices["titles"],
        "position": choices["positions"],
    }
    lists = book.create_sheet("选项")
    for column, (key, values) in enumerate(options.items(), start=1):
        lists.cell(row=1, column=column, value=str(dict((k, lbl) for k, lbl, _r in FIELDS)[key]))
        for row, value in enumerate(values, start=2):
            lists.cell(row=row, column=column, value=value)
        letter = get_column_letter(column)
        validation = DataValidation(
            type="list",
            formula1=f"'选项'!${letter}$2:${letter}${len(values) + 1}",
            allow_blank=True,
            showErrorMessage=True,
            errorTitle=_("Invalid value"),
            error=_("Please choose from the list"),
        )
        sheet.add_data_validation(validation)
        target = get_column_letter(keys.index(key) + 1)
        validation.add(f"{target}2:{target}{last}")
    months = DataValidation(type="whole", operator="between", formula1="0", formula2="600", allow_blank=True)
    sheet.add_data_validation(months)
    months_letter = get_column_letter(keys.index("insurance_months") + 1)
    months.add(f"{months_letter}2:{months_letter}{last}")
    lists.sheet_state = "hidden"
    guide = book.create_sheet("填写说明", 0)
    guide.column_dimensions["A"].width = 110
    lines = [
        _("Training batch: %(name)s", name=batch_name),
        _("Fill one person per row on the sheet 报名表, starting from row 2; do not change the header row."),
        _("Columns marked * are required. 性别, 学历, 职称 and 岗位 are chosen from the dropdown lists."),
        _("Enter the 18-character ID card number as text (a final X is allowed); the gender must match it."),
        _(
            "Every row is checked; if any row has an error nothing is imported and the errors are listed by row and column."
        ),
        _("At most %(n)s rows per file.", n=MAX_ROWS),
        "",
        _("Sign-up notice:"),
        *notice.splitlines(),
    ]
    for line in lines:
        guide.append([line])
        guide.cell(row=guide.max_row, column=1).alignment = Alignment(wrap_text=True)
    guide["A1"].font = Font(bold=True, size=13)
    book.active = book.index(sheet)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def read_rows(data: bytes) -> list[tuple[int, dict[str, Any]]]:
    """(row number, raw values by field key) for every non-empty row of the 报名表 sheet."""
    if not data.startswith(b"PK"):
        raise SheetRejected(_("Please upload the 报名表 as an .xlsx workbook"))
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds of errors for damaged or foreign files
        raise SheetRejected(_("The workbook cannot be read; please use the downloaded 报名表 template")) from None
    try:
        sheet = book[SHEET] if SHEET in book.sheetnames else book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header = [str(value or "").strip() for value in next(rows, ())]
        expected = headers()
        if [h.rstrip("*") for h in header[: len(expected)]] != [h.rstrip("*") for h in expected]:
            raise SheetRejected(_("The header row does not match the template; please download the 报名表 again"))
        keys = [key for key, _label, _required in FIELDS]
        result = []
        for number, values in enumerate(rows, start=2):
            cells = list(values[: len(keys)]) + [None] * (len(keys) - len(values))
            if all(value is None or str(value).strip() == "" for value in cells):
                continue
            result.append((number, dict(zip(keys, cells, strict=True))))
            if len(result) > MAX_ROWS:
                raise SheetRejected(_("At most %(n)s rows per file.", n=MAX_ROWS))
        return result
    finally:
        book.close()


def error_workbook(rows: list[tuple[int, dict[str, Any]]], errors: list[tuple[int, str, str]]) -> bytes:
    """The uploaded rows again, with the faulty cells marked and an error column at the end."""
    by_row: dict[int, list[tuple[str, str]]] = {}
    general = []
    for number, column, message in errors:
        if number:
            by_row.setdefault(number, []).append((column, message))
        else:
            general.append(message)
    book = Workbook()
    sheet = book.active
    sheet.title = SHEET
    sheet.append([*headers(), _("Errors")])
    labels = [str(label) for _key, label, _required in FIELDS]
    keys = [key for key, _label, _required in FIELDS]
    for number, raw in rows:
        problems = by_row.get(number, [])
        sheet.append([*(raw.get(key) for key in keys), "；".join(f"{c}：{m}" for c, m in problems)])
        for column, _message in problems:
            if column in labels:
                sheet.cell(row=sheet.max_row, column=labels.index(column) + 1).fill = ERROR_FILL
    if general:
        sheet.append([])
        for message in general:
            sheet.append([message])
    for index in range(1, len(keys) + 2):
        sheet.column_dimensions[get_column_letter(index)].width = 20
    sheet.column_dimensions[get_column_letter(len(keys) + 1)].width = 60
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()

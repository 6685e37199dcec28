"""The 报名表 workbook: template download, reading an upload, and the same workbook with an error column."""

from __future__ import annotations

import io
import itertools
import re
import unicodedata
from collections.abc import Iterator
from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from .staff import FIELDS, staff_choices
from .xlsx import Limits, WorkbookRejected, column_letter
from .xlsx import Workbook as UploadedWorkbook

SHEET = "报名表"
ERROR_FILL = PatternFill("solid", fgColor="FFC7CE")
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
MAX_ROWS = 20_000
# Row positions read, blank rows included: the rows allowed, the header, and as many blank or
# formatted-but-empty rows again (Excel writes a row element for every row a clerk has formatted).
MAX_SHEET_ROWS = 2 * MAX_ROWS + 1
HEADER_SEARCH_ROWS = 10
TEXT_FIELDS = ("id_number", "mobile")
FORMULA_PREFIXES = ("=", "+", "-", "@")


SheetRejected = WorkbookRejected


def headers() -> list[str]:
    """Column titles of the 报名表, always in Chinese: a sheet must import whatever language the
    uploader's interface was in when it was downloaded."""
    with force_locale("zh"):
        return [f"{label}*" if required else str(label) for _key, label, required in FIELDS]


def text_columns(sheet: Any) -> None:
    """Format the ID and phone columns as text for the whole sheet.

    A column style (`<col style=…>` in the sheet XML) rather than a format on each cell: it covers
    every row up to the last one at no cost in file size, and Excel, WPS and LibreOffice apply it to
    whatever is typed into the column, so an 18-digit ID number stays text with its last digits.
    """
    keys = [key for key, _label, _required in FIELDS]
    for key in TEXT_FIELDS:
        dimension = sheet.column_dimensions[get_column_letter(keys.index(key) + 1)]
        dimension.number_format = "@"
        dimension.width = 22


def text_cells(sheet: Any, rows: int) -> None:
    """The same text format on the first rows' cells, for readers that ignore column styles (openpyxl)."""
    keys = [key for key, _label, _required in FIELDS]
    for key in TEXT_FIELDS:
        letter = get_column_letter(keys.index(key) + 1)
        for row in range(2, rows + 2):
            sheet[f"{letter}{row}"].number_format = "@"


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
    text_columns(sheet)
    text_cells(sheet, 500)
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
            "The 身份证号 and 手机号 columns are formatted as text: keep them so. A number cell keeps only 15 digits,"
            " so an 18-digit ID number in one is cut short, and such rows are refused."
        ),
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


def header_label(value: Any) -> str:
    """A header cell as compared with the template: width folded, blanks and the required mark dropped."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(value if value is not None else ""))).rstrip("*")


def _cell_text(value: Any) -> str:
    return str(value if value is not None else "").strip()


def header_problem(head: list[tuple[int, dict[int, Any]]]) -> str | None:
    """Why the first rows of a sheet are not the template's header row, or None if row 1 is it.

    `head` holds the sheet's first non-empty rows. Names the row and the columns that differ and
    what the template has there: a header moved down, a column added before it (序号), other wording.
    """
    return header_match(head)[1]


def header_match(head: list[tuple[int, dict[int, Any]]]) -> tuple[int, str | None]:
    """(template titles found in the most header-like row, header_problem's answer)."""
    titles = headers()
    expected = [header_label(title) for title in titles]
    width = len(expected)
    best = (0, 1, 0)  # (matching columns, row number, column offset)
    for number, cells in head:
        last = max(cells, default=0)
        for offset in range(0, max(last - width, 0) + 1):
            hits = sum(header_label(cells.get(offset + i + 1)) == label for i, label in enumerate(expected))
            if hits > best[0]:
                best = (hits, number, offset)
    hits, number, offset = best
    cells = dict(next((c for n, c in head if n == number), {}))
    if hits == width and number == 1 and offset == 0:
        return hits, None
    problems = []
    if hits >= 3 and number != 1:
        problems.append(_("the header is in row %(row)s but must be in row 1: delete the rows above it", row=number))
    if hits >= 3 and offset:
        for extra in range(1, offset + 1):
            problems.append(
                _(
                    "row %(row)s, column %(column)s (“%(found)s”) is not in the template, whose column A is “%(expected)s”: delete that column",
                    row=number,
                    column=column_letter(extra),
                    found=_cell_text(cells.get(extra)),
                    expected=titles[0],
                )
            )
    if hits < 3:
        number, offset = head[0][0] if head and head[0][0] == 1 else 1, 0
        cells = dict(head[0][1]) if head and head[0][0] == 1 else {}
    for index, label in enumerate(expected):
        found = cells.get(offset + index + 1)
        if header_label(found) == label:
            continue
        if _cell_text(found):
            problems.append(
                _(
                    "row %(row)s, column %(column)s reads “%(found)s” where the template has “%(expected)s”",
                    row=number,
                    column=column_letter(offset + index + 1),
                    found=_cell_text(found)[:40],
                    expected=titles[index],
                )
            )
        else:
            problems.append(
                _(
                    "row %(row)s, column %(column)s is empty where the template has “%(expected)s”",
                    row=number,
                    column=column_letter(offset + index + 1),
                    expected=titles[index],
                )
            )
    return hits, _(
        "The header row does not match the template: %(problems)s. Please use the downloaded 报名表 without changing its header row",
        problems="；".join(problems),
    )


def _first_rows(rows: Iterator[tuple[int, dict[int, Any]]]) -> list[tuple[int, dict[int, Any]]]:
    head = []
    for number, cells in rows:
        head.append((number, cells))
        if number >= HEADER_SEARCH_ROWS or len(head) >= HEADER_SEARCH_ROWS:
            break
    return head


def read_rows(data: bytes, limits: Limits | None = None) -> list[tuple[int, dict[str, Any]]]:
    """(row number, raw values by field key) for every non-empty row of the 报名表 sheet.

    The sheet is the one named 报名表, or else the first whose row 1 is the template's header (a
    sheet renamed to 报名表 (2), say). Values keep the cell type: numbers stay int or float, so that
    check_staff can refuse an ID number a spreadsheet has already rounded.
    """
    with UploadedWorkbook(data, limits or Limits(max_rows=MAX_SHEET_ROWS)) as book:
        names = [name for name, _path in book.sheets]
        chosen = None
        if SHEET in names:
            path = book.sheets[names.index(SHEET)][1]
            rows = book.rows(path, SHEET)
            head = _first_rows(rows)
            problem = header_problem(head)
            if problem:
                rows.close()
                raise SheetRejected(problem)
            chosen = (head, rows)
        else:
            # No sheet of that name (renamed, or a CSV saved as a workbook): the one whose row 1 is
            # the template's header; else the most header-like one has its differences named.
            closest: tuple[int, str | None] = (0, None)
            for name, path in book.sheets:
                rows = book.rows(path, name)
                head = _first_rows(rows)
                hits, problem = header_match(head)
                if problem is None:
                    chosen = (head, rows)
                    break
                rows.close()
                if hits > closest[0]:
                    closest = (hits, problem)
            if chosen is None and closest[1]:
                raise SheetRejected(closest[1])
        if chosen is None:
            raise SheetRejected(
                _("No sheet named “报名表” was found (sheets in this file: %(names)s)", names="、".join(names))
            )
        head, rows = chosen
        keys = [key for key, _label, _required in FIELDS]
        result = []
        for number, cells in itertools.chain(head[1:], rows):
            values = [cells.get(column) for column in range(1, len(keys) + 1)]
            if all(value is None or (isinstance(value, str) and not value.strip()) for value in values):
                continue
            result.append((number, dict(zip(keys, values, strict=True))))
            if len(result) > MAX_ROWS:
                rows.close()
                raise SheetRejected(_("At most %(n)s rows per file.", n=MAX_ROWS))
        return result


def echo_cell(sheet: Any, value: Any, fill: PatternFill | None = None) -> Any:
    """A cell of the workbook we hand back. Text that a spreadsheet would run as a formula
    (= + - @ first) is written as a text cell with a quote prefix: never a live formula."""
    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        cell.data_type = "s"
        cell.quotePrefix = True
    if fill is not None:
        cell.fill = fill
    return cell


def error_workbook(rows: list[tuple[int, dict[str, Any]]], errors: list[tuple[int, str, str]]) -> bytes:
    """The uploaded rows again, with the faulty cells marked and an error column at the end.

    The ID and phone columns are text columns as in the template, so that corrections typed into
    this workbook upload as they were typed.
    """
    by_row: dict[int, list[tuple[str, str]]] = {}
    general = []
    for number, column, message in errors:
        if number:
            by_row.setdefault(number, []).append((column, message))
        else:
            general.append(message)
    book = Workbook(write_only=True)
    sheet = book.create_sheet(SHEET)
    labels = [str(label) for _key, label, _required in FIELDS]
    keys = [key for key, _label, _required in FIELDS]
    for index in range(1, len(keys) + 1):
        sheet.column_dimensions[get_column_letter(index)].width = 20
    text_columns(sheet)
    sheet.column_dimensions[get_column_letter(len(keys) + 1)].width = 60
    sheet.append([*headers(), _("Errors")])
    for number, raw in rows:
        problems = by_row.get(number, [])
        marked = {labels.index(column) for column, _message in problems if column in labels}
        sheet.append(
            [
                *(echo_cell(sheet, raw.get(key), ERROR_FILL if i in marked else None) for i, key in enumerate(keys)),
                echo_cell(sheet, "；".join(f"{c}：{m}" for c, m in problems)),
            ]
        )
    if general:
        sheet.append([])
        for message in general:
            sheet.append([echo_cell(sheet, message)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()

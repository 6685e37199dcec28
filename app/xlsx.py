"""Reading untrusted .xlsx uploads in bounded time and memory: archive checks before parsing, limits while streaming.

openpyxl and python-calamine both trust the file: openpyxl inflates whatever the archive holds and
reads blank rows without limit, and calamine allocates the whole bounding box of the used cells
(a 300-byte sheet with cells in A1 and XFD1048576 aborts the process). This reader checks the zip
directory first (entry count, declared sizes, compression ratio — Python's zipfile never inflates
past the declared size), then streams the parts through expat and stops at the first limit
crossed: rows (blank ones included), columns, cells, characters per cell, shared strings.

Values keep the cell's type: text is `str`, a number cell is `int` or `float`, a boolean `bool`;
callers tell a number typed into a General cell from text that way.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from xml.parsers import expat

from flask_babel import gettext as _

from .exceptions import UserError

CHUNK = 64 * 1024
OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, and encrypted Office files
INTEGER = re.compile(r"-?\d+\Z")
CELL_REF = re.compile(r"\$?([A-Za-z]{1,3})\$?(\d+)\Z")
RANGE_REF = re.compile(r"\$?([A-Za-z]{1,3})\$?(\d+)(?::\$?([A-Za-z]{1,3})\$?(\d+))?\Z")


class WorkbookRejected(UserError):
    """A workbook we refuse before or while reading it, saying what to fix."""


@dataclass(frozen=True)
class Limits:
    max_entries: int = 100  # parts in the archive (a LibreOffice or Excel workbook has 10–30)
    max_inflated: int = 80 * 1024 * 1024  # all parts together, as declared in the zip directory
    max_part: int = 50 * 1024 * 1024  # one part
    max_ratio: int = 100  # inflated / compressed size of a part over 1 MB
    max_rows: int = 40_001  # row positions of a sheet, blank rows included
    max_columns: int = 30
    max_cells: int = 640_000  # cell elements of a sheet, empty styled ones included
    max_cell_chars: int = 2_000  # characters in one cell of the sheet read
    max_shared_strings: int = 500_000
    max_shared_chars: int = 32_767  # Excel's own limit for one cell


def column_index(letters: str) -> int:
    """'A' -> 1, 'AA' -> 27."""
    index = 0
    for char in letters.upper():
        index = index * 26 + ord(char) - 64
    return index


def column_letter(index: int) -> str:
    letters = ""
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _local(name: str) -> str:
    return name[name.rfind(":") + 1 :]


def _refuse_doctype(*_args: Any) -> None:
    # No part of an Office Open XML file has a DOCTYPE: refusing it rules out entity expansion.
    raise WorkbookRejected(_("The workbook cannot be read; please use the downloaded 报名表 template"))


class Workbook:
    """An .xlsx upload whose archive has passed the checks; sheets are read on demand."""

    def __init__(self, data: bytes, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.archive = open_archive(data, self.limits)
        self._shared: list[str] | None = None
        self.sheets = self._sheets()  # [(name, part path)] in workbook order

    def close(self) -> None:
        self.archive.close()

    def __enter__(self) -> Workbook:
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()

    # --- parts ---------------------------------------------------------------------------------

    def _parse(self, path: str, start, end=None, chars=None) -> None:
        """Stream one part through expat with the given handlers."""
        try:
            stream = self.archive.open(path)
        except KeyError:
            raise WorkbookRejected(_("The workbook is damaged (a part is missing); please save it again")) from None
        parser = expat.ParserCreate()
        parser.buffer_text = True
        parser.buffer_size = CHUNK
        parser.StartDoctypeDeclHandler = _refuse_doctype
        parser.EntityDeclHandler = _refuse_doctype
        parser.StartElementHandler = start
        if end is not None:
            parser.EndElementHandler = end
        if chars is not None:
            parser.CharacterDataHandler = chars
        try:
            with stream:
                while chunk := stream.read(CHUNK):
                    parser.Parse(chunk, False)
                parser.Parse(b"", True)
        except (expat.ExpatError, zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
            if isinstance(error, WorkbookRejected):
                raise
            raise WorkbookRejected(_("The workbook is damaged and cannot be read; please save it again")) from None

    def _relationships(self, path: str) -> dict[str, tuple[str, str]]:
        """{Id: (type suffix, part path)} of one part's .rels."""
        folder, name = posixpath.split(path)
        rels_path = posixpath.join(folder, "_rels", name + ".rels")
        found: dict[str, tuple[str, str]] = {}
        if rels_path not in self.archive.NameToInfo:
            return found

        def start(tag: str, attrs: dict[str, str]) -> None:
            if _local(tag) == "Relationship" and attrs.get("TargetMode") != "External":
                target = attrs.get("Target", "")
                full = (
                    target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
                )
                found[attrs.get("Id", "")] = (attrs.get("Type", "").rsplit("/", 1)[-1], full)

        self._parse(rels_path, start)
        return found

    def _sheets(self) -> list[tuple[str, str]]:
        root = self._relationships("")
        book_path = next((p for t, p in root.values() if t == "officeDocument"), "xl/workbook.xml")
        rels = self._relationships(book_path)
        self._shared_path = next((p for t, p in rels.values() if t == "sharedStrings"), None)
        sheets: list[tuple[str, str]] = []

        def start(tag: str, attrs: dict[str, str]) -> None:
            if _local(tag) == "sheet":
                rel = next((v for k, v in attrs.items() if _local(k) == "id" and k != "sheetId"), "")
                kind, path = rels.get(rel, ("", ""))
                if kind == "worksheet":
                    sheets.append((attrs.get("name", ""), path))

        self._parse(book_path, start)
        return sheets

    def shared_strings(self) -> list[str]:
        if self._shared is not None:
            return self._shared
        strings: list[str] = []
        limits = self.limits
        state = {"depth_phonetic": 0, "in_t": False, "length": 0}
        pieces: list[str] = []

        def start(tag: str, _attrs: dict[str, str]) -> None:
            local = _local(tag)
            if local == "t":
                state["in_t"] = not state["depth_phonetic"]
            elif local == "si":
                pieces.clear()
                state["length"] = 0
            elif local == "rPh":
                state["depth_phonetic"] += 1

        def end(tag: str) -> None:
            local = _local(tag)
            if local == "t":
                state["in_t"] = False
            elif local == "rPh":
                state["depth_phonetic"] -= 1
            elif local == "si":
                strings.append("".join(pieces))
                if len(strings) > limits.max_shared_strings:
                    raise WorkbookRejected(_("The workbook holds too many different texts"))

        def chars(text: str) -> None:
            if state["in_t"]:
                pieces.append(text)
                state["length"] += len(text)
                if state["length"] > limits.max_shared_chars:
                    raise WorkbookRejected(
                        _("A cell of the workbook holds more than %(n)s characters", n=limits.max_shared_chars)
                    )

        if self._shared_path:
            self._parse(self._shared_path, start, end, chars)
        self._shared = strings
        return strings

    # --- sheets --------------------------------------------------------------------------------

    def rows(self, path: str, sheet_name: str) -> Iterator[tuple[int, dict[int, Any]]]:
        """(row number, {column number: value}) for each row with at least one value, streamed.

        Raises WorkbookRejected at the first limit crossed.
        """
        return _SheetReader(self, path, sheet_name).rows()


class _SheetReader:
    def __init__(self, book: Workbook, path: str, sheet_name: str) -> None:
        self.book = book
        self.path = path
        self.sheet_name = sheet_name
        self.limits = book.limits
        self.row = 0
        self.column = 0
        self.cells = 0
        self.values: dict[int, Any] = {}
        self.done: list[tuple[int, dict[int, Any]]] = []
        self.kind: str | None = None
        self.collect = False
        self.in_inline = False
        self.phonetic = 0
        self.text: list[str] = []
        self.length = 0

    def too_many_rows(self) -> WorkbookRejected:
        return WorkbookRejected(
            _(
                "The sheet %(sheet)s goes beyond row %(n)s (blank rows count too); delete the empty rows below your data",
                sheet=self.sheet_name,
                n=self.limits.max_rows,
            )
        )

    def too_many_columns(self) -> WorkbookRejected:
        return WorkbookRejected(
            _(
                "The sheet %(sheet)s goes beyond column %(column)s; delete the columns to the right of the template's",
                sheet=self.sheet_name,
                column=column_letter(self.limits.max_columns),
            )
        )

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        local = tag[tag.rfind(":") + 1 :]
        if local == "c":
            ref = attrs.get("r")
            if ref:
                match = CELL_REF.match(ref)
                if match is None:
                    raise WorkbookRejected(_("The workbook is damaged and cannot be read; please save it again"))
                self.column = column_index(match.group(1))
            else:
                self.column += 1
            if self.column > self.limits.max_columns:
                raise self.too_many_columns()
            self.cells += 1
            if self.cells > self.limits.max_cells:
                raise WorkbookRejected(
                    _(
                        "The sheet %(sheet)s has more than %(n)s cells (formatted empty cells count too); copy your rows into the template",
                        sheet=self.sheet_name,
                        n=self.limits.max_cells,
                    )
                )
            self.kind = attrs.get("t")
            self.text = []
            self.length = 0
        elif local == "v":
            self.collect = True
        elif local == "t":
            self.collect = self.in_inline and not self.phonetic
        elif local == "row":
            number = attrs.get("r")
            if number:
                if not number.isdigit():
                    raise WorkbookRejected(_("The workbook is damaged and cannot be read; please save it again"))
                self.row = int(number)
            else:
                self.row += 1
            if self.row > self.limits.max_rows:
                raise self.too_many_rows()
            self.column = 0
        elif local == "is":
            self.in_inline = True
        elif local == "rPh":
            self.phonetic += 1
        elif local == "dimension":
            self.check_dimension(attrs.get("ref", ""))

    def check_dimension(self, ref: str) -> None:
        match = RANGE_REF.match(ref.strip())
        if match is None:
            return  # some writers leave it out or write nonsense; the streaming limits still apply
        last_column = column_index(match.group(3) or match.group(1))
        last_row = int(match.group(4) or match.group(2))
        if last_row > self.limits.max_rows or last_column > self.limits.max_columns:
            raise WorkbookRejected(
                _(
                    "The sheet %(sheet)s declares the range %(ref)s, beyond %(rows)s rows or %(columns)s columns; copy your rows into the template",
                    sheet=self.sheet_name,
                    ref=ref,
                    rows=self.limits.max_rows,
                    columns=self.limits.max_columns,
                )
            )

    def end(self, tag: str) -> None:
        local = tag[tag.rfind(":") + 1 :]
        if local == "c":
            if self.text:
                self.values[self.column] = self.value("".join(self.text))
            elif self.kind == "inlineStr":
                self.values[self.column] = ""
            self.kind = None
        elif local == "v" or local == "t":
            self.collect = False
        elif local == "row":
            if self.values:
                self.done.append((self.row, self.values))
                self.values = {}
        elif local == "is":
            self.in_inline = False
        elif local == "rPh":
            self.phonetic -= 1

    def chars(self, text: str) -> None:
        if self.collect:
            self.text.append(text)
            self.length += len(text)
            if self.length > self.limits.max_cell_chars:
                raise self.too_long()

    def too_long(self) -> WorkbookRejected:
        return WorkbookRejected(
            _(
                "Row %(row)s, column %(column)s holds more than %(n)s characters",
                row=self.row,
                column=column_letter(self.column),
                n=self.limits.max_cell_chars,
            )
        )

    def value(self, text: str) -> Any:
        kind = self.kind
        if kind is None or kind == "n":
            if INTEGER.match(text):
                return int(text)
            try:
                return float(text)
            except ValueError:
                raise WorkbookRejected(_("The workbook is damaged and cannot be read; please save it again")) from None
        if kind == "s":
            strings = self.book.shared_strings()
            try:
                value = strings[int(text)]
            except (ValueError, IndexError):
                raise WorkbookRejected(_("The workbook is damaged and cannot be read; please save it again")) from None
            if len(value) > self.limits.max_cell_chars:
                raise self.too_long()
            return value
        if kind == "b":
            return text.strip() == "1"
        return text  # inlineStr, str (a formula's text), e (an error such as #N/A), d (an ISO date)

    def rows(self) -> Iterator[tuple[int, dict[int, Any]]]:
        try:
            stream = self.book.archive.open(self.path)
        except KeyError:
            raise WorkbookRejected(_("The workbook is damaged (a part is missing); please save it again")) from None
        parser = expat.ParserCreate()
        parser.buffer_text = True
        parser.buffer_size = CHUNK
        parser.StartDoctypeDeclHandler = _refuse_doctype
        parser.EntityDeclHandler = _refuse_doctype
        parser.StartElementHandler = self.start
        parser.EndElementHandler = self.end
        parser.CharacterDataHandler = self.chars
        with stream:
            while True:
                try:
                    chunk = stream.read(CHUNK)
                    parser.Parse(chunk, not chunk)
                except (expat.ExpatError, zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
                    if isinstance(error, WorkbookRejected):
                        raise
                    raise WorkbookRejected(
                        _("The workbook is damaged and cannot be read; please save it again")
                    ) from None
                if self.done:
                    yield from self.done
                    self.done = []
                if not chunk:
                    return


def open_archive(data: bytes, limits: Limits) -> zipfile.ZipFile:
    """The upload as a zip archive, refused before anything is inflated if it is not a plausible workbook."""
    if data.startswith(OLE_SIGNATURE):
        raise WorkbookRejected(
            _(
                "This is an old .xls or an encrypted workbook: please save it as .xlsx (without a password) and upload it again"
            )
        )
    if not data.startswith(b"PK\x03\x04"):
        raise WorkbookRejected(_("Please upload the 报名表 as an .xlsx workbook"))
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError):
        raise WorkbookRejected(_("The workbook cannot be read; please use the downloaded 报名表 template")) from None
    infos = archive.infolist()
    if len(infos) > limits.max_entries:
        raise WorkbookRejected(_("The file holds too many parts to be a 报名表 (%(n)s)", n=len(infos)))
    names = {info.filename for info in infos}
    if "mimetype" in names and "[Content_Types].xml" not in names:
        raise WorkbookRejected(_("This is an OpenDocument (.ods) file: please save it as .xlsx and upload it again"))
    total = 0
    for info in infos:
        total += info.file_size
        if info.flag_bits & 0x1:
            raise WorkbookRejected(_("The workbook is encrypted; please save it without a password"))
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise WorkbookRejected(_("The workbook cannot be read; please use the downloaded 报名表 template"))
        if (
            info.file_size > limits.max_part
            or total > limits.max_inflated
            or (info.file_size > 1024 * 1024 and info.file_size > limits.max_ratio * max(info.compress_size, 1))
        ):
            raise WorkbookRejected(
                _(
                    "The file unpacks to far more data than a 报名表 can hold; it was refused unread. Copy your rows into the template"
                )
            )
    if "[Content_Types].xml" not in names:
        raise WorkbookRejected(_("Please upload the 报名表 as an .xlsx workbook"))
    return archive

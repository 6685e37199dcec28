"""A 报名表 upload cannot exhaust the server: archive checks before parsing, limits while streaming.

The hostile files are built here with zipfile, small on disk (a zip bomb, a lying zip directory,
a huge shared string, a million blank rows, thousands of columns, an absurd dimension, a far
cell, too many parts, entity expansion, an over-long cell, too many cells). Each one is refused
with a Chinese message and nothing is stored; their peak memory is measured in a subprocess.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import struct
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from test_training import upload

from app import db
from app.models import Enrollment, StoredFile, TechnicalStaff
from app.spreadsheets import MAX_ROWS, SheetRejected, headers, read_rows
from factories import make_batch, make_enterprise_user, person, workbook

ROOT = Path(__file__).resolve().parent.parent
MAIN = b"http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = b"http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def header_row() -> bytes:
    cells = "".join(
        f'<c r="{chr(65 + i)}1" t="inlineStr"><is><t>{title}</t></is></c>' for i, title in enumerate(headers())
    )
    return f'<row r="1">{cells}</row>'.encode()


def skeleton(shared: bool = False) -> dict[str, bytes]:
    shared_rel = (
        b'<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        b'sharedStrings" Target="sharedStrings.xml"/>'
        if shared
        else b""
    )
    return {
        "[Content_Types].xml": b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        b'content-types"><Default Extension="xml" ContentType="application/xml"/></Types>',
        "_rels/.rels": b'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
        b'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        b'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": b'<?xml version="1.0"?><workbook xmlns="' + MAIN + b'" xmlns:r="' + REL + b'"><sheets>'
        b'<sheet name="\xe6\x8a\xa5\xe5\x90\x8d\xe8\xa1\xa8" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": b'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
        b'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
        b'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
        + shared_rel
        + b"</Relationships>",
    }


def xlsx(sheet: Iterable[bytes], shared: Iterable[bytes] | None = None, extra: dict[str, bytes] | None = None) -> bytes:
    """A workbook whose sheet (and shared strings) are streamed into the archive chunk by chunk."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, data in skeleton(shared is not None).items():
            archive.writestr(name, data)
        for name, chunks in (("xl/worksheets/sheet1.xml", sheet), ("xl/sharedStrings.xml", shared)):
            if chunks is None:
                continue
            with archive.open(name, "w", force_zip64=True) as part:
                for chunk in chunks:
                    part.write(chunk)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return out.getvalue()


def sheet_of(*body: bytes, head: bytes = b"") -> Iterable[bytes]:
    yield b'<?xml version="1.0"?><worksheet xmlns="' + MAIN + b'">' + head + b"<sheetData>" + header_row()
    yield from body
    yield b"</sheetData></worksheet>"


def repeated(chunk: bytes, total: int) -> Iterable[bytes]:
    for _ in range(total // len(chunk)):
        yield chunk


def rows_of(make: Callable[[int], bytes], start: int, stop: int) -> Iterable[bytes]:
    for first in range(start, stop, 10_000):
        yield b"".join(make(i) for i in range(first, min(first + 10_000, stop)))


def zip_bomb() -> bytes:
    return xlsx(sheet_of(*repeated(b" " * 1024 * 1024, 200 * 1024 * 1024)))


def lying_directory() -> bytes:
    """Declares 1 KB for a sheet that inflates to 100 MB: a reader trusting the stream would inflate it all."""
    data = bytearray(xlsx(sheet_of(b"<row r='2'>", *repeated(b" " * 1024 * 1024, 100 * 1024 * 1024))))
    name = b"xl/worksheets/sheet1.xml"
    position = 0
    while (position := data.find(b"PK\x01\x02", position + 1)) != -1:
        length = struct.unpack_from("<H", data, position + 28)[0]
        if bytes(data[position + 46 : position + 46 + length]) == name:
            extra_length = struct.unpack_from("<H", data, position + 30)[0]
            extra = position + 46 + length
            # zip64 extra field: header id 1, then the 8-byte uncompressed size first
            end = extra + extra_length
            while extra < end:
                header_id, size = struct.unpack_from("<HH", data, extra)
                if header_id == 1:
                    struct.pack_into("<Q", data, extra + 4, 1024)
                extra += 4 + size
            if struct.unpack_from("<I", data, position + 24)[0] != 0xFFFFFFFF:
                struct.pack_into("<I", data, position + 24, 1024)
    return bytes(data)


def huge_shared_string() -> bytes:
    shared = iter(
        [
            b'<?xml version="1.0"?><sst xmlns="' + MAIN + b'"><si><t>',
            *(os.urandom(512 * 1024).hex().encode() for _ in range(4)),  # 4 MB that does not compress
            b"</t></si></sst>",
        ]
    )
    return xlsx(sheet_of(b'<row r="2"><c r="A2" t="s"><v>0</v></c></row>'), shared=shared)


def compressible_shared_string() -> bytes:
    shared = iter(
        [
            b'<?xml version="1.0"?><sst xmlns="' + MAIN + b'"><si><t>',
            *repeated(b"A" * 1024 * 1024, 40 * 1024 * 1024),
            b"</t></si></sst>",
        ]
    )
    return xlsx(sheet_of(b'<row r="2"><c r="A2" t="s"><v>0</v></c></row>'), shared=shared)


def blank_rows() -> bytes:
    return xlsx(sheet_of(*rows_of(lambda i: b'<row r="%d"/>' % i, 2, 1_000_002)))


def many_columns() -> bytes:
    from app.xlsx import column_letter

    cells = b"".join(b'<c r="%s2"><v>1</v></c>' % column_letter(i).encode() for i in range(1, 5001))
    return xlsx(sheet_of(b'<row r="2">' + cells + b"</row>"))


def absurd_dimension() -> bytes:
    return xlsx(
        sheet_of(b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>', head=b'<dimension ref="A1:XFD1048576"/>')
    )


def far_cell() -> bytes:
    return xlsx(
        sheet_of(b'<row r="2"><c r="A2"><v>1</v></c></row><row r="1048576"><c r="XFD1048576"><v>1</v></c></row>')
    )


def many_parts() -> bytes:
    return xlsx(sheet_of(), extra={f"xl/media/{i}.xml": b"" for i in range(5000)})


def entity_expansion() -> bytes:
    doctype = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i else b"&lol;") * 10) for i in range(9))
        + b"]>"
    )
    body = b'<worksheet xmlns="' + MAIN + b'"><sheetData><row r="2"><c r="A2" t="inlineStr"><is><t>&lol8;</t></is></c>'
    return xlsx(iter([doctype + body + b"</row></sheetData></worksheet>"]))


def long_cell() -> bytes:
    return xlsx(sheet_of(b'<row r="2"><c r="A2" t="inlineStr"><is><t>' + "张".encode() * 5000 + b"</t></is></c></row>"))


def many_cells() -> bytes:
    from app.xlsx import column_letter

    letters = [column_letter(i).encode() for i in range(1, 31)]
    return xlsx(
        sheet_of(
            *rows_of(
                lambda i: b'<row r="%d">' % i + b"".join(b'<c r="%s%d" s="1"/>' % (x, i) for x in letters) + b"</row>",
                2,
                40_000,
            )
        )
    )


HOSTILE = {
    "zip bomb": (zip_bomb, "文件解压后的数据量远超报名表所能容纳"),
    "lying zip directory": (lying_directory, "工作簿已损坏"),
    "huge shared string": (huge_shared_string, "超过 32767 个字符"),
    "compressible shared string": (compressible_shared_string, "文件解压后的数据量远超报名表所能容纳"),
    "a million blank rows": (blank_rows, "超过 40001 行（空行也计算在内）"),
    "thousands of columns": (many_columns, "超出了 AD 列"),
    "absurd dimension": (absurd_dimension, "声明的范围为 A1:XFD1048576"),
    "far cell": (far_cell, "超过 40001 行"),
    "many parts": (many_parts, "部件过多"),
    "entity expansion": (entity_expansion, "无法读取"),
    "long cell": (long_cell, "第2行 A列超过 2000 个字符"),
    "many cells": (many_cells, "的单元格超过 640000 个"),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile")
    files = {}
    for index, (name, (build, _expected)) in enumerate(HOSTILE.items()):
        path = folder / f"{index}.xlsx"
        path.write_bytes(build())
        files[name] = path
    return files


def test_the_corpus_is_small_on_disk(corpus):
    for name, path in corpus.items():
        assert path.stat().st_size < 20 * 1024 * 1024, name  # under the upload limit: the checks must act


@pytest.mark.parametrize("name", list(HOSTILE))
def test_each_hostile_file_is_refused_with_a_reason(app, corpus, name):
    with pytest.raises(SheetRejected) as refused:
        read_rows(corpus[name].read_bytes())
    assert HOSTILE[name][1] in refused.value.message, refused.value.message


MEASURE = """
import json, sys, time
sys.path.insert(0, {root!r})
from app import create_app
from app.spreadsheets import SheetRejected, read_rows

def status(field):
    with open("/proc/self/status") as lines:
        return next(int(line.split()[1]) for line in lines if line.startswith(field + ":"))

app = create_app("config.Config", SQLALCHEMY_DATABASE_URI="sqlite://", SECRET_KEY="x", TESTING=True)
files = json.loads(sys.argv[1])
with app.app_context(), app.test_request_context():
    results = {{}}
    growth = 0
    for name, path in files.items():
        data = open(path, "rb").read()
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")  # reset the peak (VmHWM) to the current resident size
        baseline = status("VmRSS")
        start = time.perf_counter()
        try:
            read_rows(data)
            message = None
        except SheetRejected as error:
            message = error.message
        results[name] = [time.perf_counter() - start, message, (status("VmHWM") - baseline) / 1024]
        growth = max(growth, results[name][2])
        del data
print(json.dumps({{"growth_mb": growth, "results": results}}))
"""


def test_hostile_corpus_stays_within_bounded_memory(corpus):
    """Peak RSS growth while reading each file, in a fresh process (generous bound, no timing assertion)."""
    script = MEASURE.format(root=str(ROOT))
    files = json.dumps({name: str(path) for name, path in corpus.items()})
    done = subprocess.run(
        [sys.executable, "-c", script, files], capture_output=True, text=True, timeout=600, cwd=ROOT, check=True
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    for name, (_seconds, message, _growth) in report["results"].items():
        assert message and HOSTILE[name][1] in message, (name, message)
    assert report["growth_mb"] < 300, report


def test_a_hostile_upload_stores_nothing(app, client, auth, corpus):
    user = make_enterprise_user()
    batch = make_batch()
    auth.login(user.username)
    for name in ("zip bomb", "a million blank rows", "absurd dimension"):
        response = upload(client, batch.id, corpus[name].read_bytes())
        assert response.status_code == 302
        assert HOSTILE[name][1] in client.get(response.headers["Location"]).get_data(as_text=True)
    assert count(StoredFile) == 0 and count(TechnicalStaff) == 0 and count(Enrollment) == 0


def full_sheet(rows: int) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("报名表")
    sheet.append(headers())
    keys = ["name", "gender", "id_number", "mobile", "education", "major", "title", "position", "insurance_months"]
    row = person(1)
    for i in range(rows):
        sheet.append([f"技术员{i}", *(row[key] for key in keys[1:])])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_a_full_twenty_thousand_row_sheet_still_reads_and_one_more_row_is_refused(app):
    rows = read_rows(full_sheet(MAX_ROWS))
    assert len(rows) == MAX_ROWS and rows[-1][0] == MAX_ROWS + 1 and rows[-1][1]["name"] == f"技术员{MAX_ROWS - 1}"
    with pytest.raises(SheetRejected) as refused:
        read_rows(full_sheet(MAX_ROWS + 1))
    assert "20000" in refused.value.message


# --- Error workbooks are purged ----------------------------------------------------------------


def stored_error_workbook(age: dt.timedelta, purpose: str = "training_errors") -> StoredFile:
    from app.uploads import storage_path, store_generated

    stored = store_generated(
        b"PK-test",
        original_name="报名表-错误说明.xlsx",
        content_type="application/octet-stream",
        purpose=purpose,
        enterprise_id=None,
    )
    stored.created_on = dt.datetime.now(dt.UTC).replace(tzinfo=None) - age
    db.session.commit()
    assert storage_path(stored.storage_key).exists()
    return stored


def test_old_error_workbooks_are_purged_by_the_command(app):
    from app.uploads import storage_path

    old = stored_error_workbook(dt.timedelta(hours=25))
    recent = stored_error_workbook(dt.timedelta(hours=1))
    other = stored_error_workbook(dt.timedelta(days=30), purpose="staff_photo")
    keys = {f.id: f.storage_key for f in (old, recent, other)}
    old, recent, other = (f.id for f in (old, recent, other))
    result = app.test_cli_runner().invoke(args=["training", "purge-error-sheets"])
    assert result.exit_code == 0 and "deleted 1 error workbook" in result.output
    db.session.expire_all()
    assert db.session.get(StoredFile, old) is None and not storage_path(keys[old]).exists()
    assert db.session.get(StoredFile, recent) and storage_path(keys[recent]).exists()
    assert db.session.get(StoredFile, other) and storage_path(keys[other]).exists()
    result = app.test_cli_runner().invoke(args=["training", "purge-error-sheets", "--older-than", "0"])
    assert "deleted 1 error workbook" in result.output


def test_writing_an_error_workbook_purges_old_ones(app, client, auth):
    from app import staff

    old = stored_error_workbook(dt.timedelta(days=2)).id
    staff._last_purge = None
    user = make_enterprise_user()
    batch = make_batch()
    auth.login(user.username)
    page = upload(client, batch.id, workbook([person(1, mobile="123")])).get_data(as_text=True)
    assert "本次未导入任何数据" in page
    db.session.expire_all()
    assert db.session.get(StoredFile, old) is None
    assert count(StoredFile) == 1  # the new one

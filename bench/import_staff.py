"""Benchmark of 批量报名: time and peak memory of a 5,000- and a 20,000-row 报名表 upload.

Prints, for each size, the time openpyxl alone takes to read the file (read-only mode, the old
floor), python-calamine's read of the same sheet (the fastest reader there is; not used by the
app, see app/xlsx.py, and shown only if installed), our bounded reader alone (app/xlsx.py), our
whole import (read, validate every row, write staff and enrolments in one transaction), the
whole import's ratio to openpyxl's read, and its peak Python memory. Runs on a temporary SQLite
database, or on BENCH_DATABASE_URL if set.

    .venv/bin/python bench/import_staff.py [ROWS ...]
"""

from __future__ import annotations

import datetime as dt
import io
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from openpyxl import Workbook, load_workbook
from stdnum.cn import ric

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import MIGRATIONS_DIR, create_app, db  # noqa: E402


def id_number(i: int) -> str:
    body = f"340104{1970 + i % 30}{1 + i % 12:02d}{1 + i % 28:02d}{i % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def build_workbook(rows: int) -> bytes:
    from app.spreadsheets import headers

    book = Workbook(write_only=True)
    sheet = book.create_sheet("报名表")
    sheet.append(headers())
    for i in range(rows):
        number = id_number(i)
        gender = "男" if int(number[16]) % 2 else "女"
        sheet.append([f"技术员{i}", gender, number, f"139{i:08d}", "本科", "电子信息", "工程师", "施工员", 12])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def openpyxl_floor(data: bytes) -> float:
    start = time.perf_counter()
    book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    for _row in book["报名表"].iter_rows(values_only=True):
        pass
    book.close()
    return time.perf_counter() - start


def calamine_read(data: bytes) -> float | None:
    try:
        from python_calamine import CalamineWorkbook
    except ImportError:
        return None
    start = time.perf_counter()
    book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    for _row in book.get_sheet_by_name("报名表").iter_rows():
        pass
    book.close()
    return time.perf_counter() - start


def our_read(data: bytes) -> float:
    from app.spreadsheets import read_rows

    start = time.perf_counter()
    read_rows(data)
    return time.perf_counter() - start


def main(sizes: list[int]) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-staff-"))
    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{workdir / 'bench.db'}"
    app = create_app(
        "config.Config",
        SQLALCHEMY_DATABASE_URI=url,
        INSTANCE_PATH=str(workdir),
        SECRET_KEY="bench",
        UPLOAD_ROOT=str(workdir / "up"),
    )
    from flask_migrate import upgrade

    from app.settings import seed_defaults

    print(
        f"{'rows':>7} {'openpyxl read':>14} {'calamine read':>14} {'our read':>9} {'our import':>11}"
        f" {'import/openpyxl':>16} {'peak memory':>12}"
    )
    with app.app_context():
        upgrade(directory=MIGRATIONS_DIR)
        seed_defaults()
        for rows in sizes:
            data = build_workbook(rows)
            floor = min(openpyxl_floor(data) for _ in range(2))
            calamine = [calamine_read(data) for _ in range(2)]
            calamine_text = f"{min(calamine):>13.2f}s" if calamine[0] is not None else f"{'not installed':>14}"
            reader = min(our_read(data) for _ in range(2))
            # Time without tracing; peak memory in a second, traced run (tracing slows Python down).
            elapsed = min(run_import(rows, data) for _ in range(2))
            tracemalloc.start()
            run_import(rows, data)
            _current, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(
                f"{rows:>7} {floor:>13.2f}s {calamine_text} {reader:>8.2f}s {elapsed:>10.2f}s"
                f" {elapsed / floor:>15.2f}x {peak / 1024 / 1024:>10.1f}MB"
            )


def run_import(rows: int, data: bytes) -> float:
    from app.models import Enrollment, Enterprise, TechnicalStaff, TrainingBatch
    from app.spreadsheets import read_rows
    from app.staff import sign_up

    db.session.query(Enrollment).delete()
    db.session.query(TechnicalStaff).delete()
    db.session.query(TrainingBatch).delete()
    db.session.query(Enterprise).delete()
    db.session.commit()
    enterprise = Enterprise(
        name=f"基准测试企业{rows}",
        credit_code=_credit_code(rows),
        region_code="340104",
        province="安徽省",
        city="合肥市",
        district="蜀山区",
    )
    today = dt.date.today()
    batch = TrainingBatch(
        name=f"基准{rows}",
        notice="",
        starts_on=today,
        ends_on=today,
        place="合肥",
        capacity=rows,
        fee=0,
        signup_opens_on=today,
        signup_closes_on=today,
        status="open",
    )
    db.session.add_all([enterprise, batch])
    db.session.commit()
    start = time.perf_counter()
    result = sign_up(batch.id, enterprise.id, read_rows(data))
    elapsed = time.perf_counter() - start
    assert not result.errors and result.enrolled == rows, result.errors[:3]
    return elapsed


def _credit_code(seed: int) -> str:
    from stdnum.cn import uscc

    body = f"91340104MB{seed % 10_000_000:07d}"
    return body + uscc.calc_check_digit(body)


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [5_000, 20_000])

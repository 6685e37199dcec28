"""Benchmark of the switch-over import: time and peak memory of importing 10,000 qualification certificates.

Builds 2,000 imported enterprises (5 certificates each) and a certificates CSV and an .xlsx of
10,000 rows, then times `app.legacy.run_import("certificates", ...)` on each: a dry run (read and
plan every row), the real import (one transaction), and the re-run that finds every row unchanged.
Peak Python memory comes from a second, traced run (tracing slows Python down). Runs on a
temporary SQLite database, or on BENCH_DATABASE_URL if set.

    .venv/bin/python bench/legacy_import.py [ROWS]
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from openpyxl import Workbook
from stdnum.cn import uscc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import MIGRATIONS_DIR, create_app, db  # noqa: E402

HEADER = [
    "credit_code",
    "number",
    "level",
    "issued_on",
    "valid_from",
    "valid_until",
    "status",
    "annual_reviews",
    "copies_original",
    "copies_duplicate",
]
PER_ENTERPRISE = 5


def credit_code(seed: int) -> str:
    body = f"91340104MC{seed:07d}"
    return body + uscc.calc_check_digit(body)


def certificate_rows(rows: int) -> list[list[str]]:
    levels = ("一级", "贰级", "三级资质")
    return [
        [
            credit_code(i // PER_ENTERPRISE),
            f"皖安协资[{2020 + i % 7}]第{i:05d}号",
            levels[i % 3],
            f"{2020 + i % 7}年3月1日",
            "",
            f"{2023 + i % 7}/2/28",
            "有效",
            f"{2021 + i % 7}",
            "1",
            "1",
        ]
        for i in range(rows)
    ]


def as_csv(rows: list[list[str]]) -> bytes:
    return ("\n".join(",".join(row) for row in [HEADER, *rows]) + "\n").encode("utf-8")


def as_xlsx(rows: list[list[str]]) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("证书")
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def reset(enterprises: int) -> None:
    from sqlalchemy import delete, insert

    from app.models import AuditLog, Certificate, CertificateEvent, Enterprise, NumberSequence

    for model in (CertificateEvent, Certificate, AuditLog, NumberSequence, Enterprise):
        db.session.execute(delete(model))
    db.session.execute(
        insert(Enterprise),
        [
            {
                "name": f"基准安防工程有限公司{i}",
                "credit_code": credit_code(i),
                "region_code": "340104",
                "province": "安徽省",
                "city": "合肥市",
                "district": "蜀山区",
            }
            for i in range(enterprises)
        ],
    )
    db.session.commit()


def timed(kind: str, data: bytes, name: str, dry_run: bool = False) -> tuple[float, object]:
    from app.legacy import run_import

    start = time.perf_counter()
    report = run_import(kind, data, name, dry_run=dry_run)
    return time.perf_counter() - start, report


def main(rows: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-legacy-"))
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

    enterprises = (rows + PER_ENTERPRISE - 1) // PER_ENTERPRISE
    data_rows = certificate_rows(rows)
    files = {"csv": as_csv(data_rows), "xlsx": as_xlsx(data_rows)}
    print(f"{rows} certificates of {enterprises} enterprises ({url.split(':')[0]})")
    print(f"{'file':>5} {'size':>8} {'dry run':>8} {'import':>8} {'re-run':>8} {'peak memory':>12}")
    with app.app_context():
        upgrade(directory=MIGRATIONS_DIR)
        seed_defaults()
        for kind, data in files.items():
            reset(enterprises)
            dry, _report = timed("certificates", data, f"certificates.{kind}", dry_run=True)
            elapsed, report = timed("certificates", data, f"certificates.{kind}")
            assert report.applied and report.count("create") == rows, report.refused[:3]
            again, report = timed("certificates", data, f"certificates.{kind}")
            assert report.count("unchanged") == rows and not report.applied
            reset(enterprises)
            tracemalloc.start()
            timed("certificates", data, f"certificates.{kind}")
            _current, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(
                f"{kind:>5} {len(data) / 1024 / 1024:>6.1f}MB {dry:>7.2f}s {elapsed:>7.2f}s {again:>7.2f}s"
                f" {peak / 1024 / 1024:>10.1f}MB"
            )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)

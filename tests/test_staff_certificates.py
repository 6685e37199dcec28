"""添加证书 on the staff page is idempotent: one certificate (staff, kind, number) is one row, however often it is sent."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app import create_app, db
from app.models import StaffCertificate, StoredFile
from app.views.training import TrainingView
from concurrency import race, separate_apps
from conftest import AuthActions, app_settings, csrf_token
from factories import make_enterprise_user, make_staff

ALREADY_ADDED = "该证书已添加"


def certificate_form(token: str, scan: bytes | None = None, number: str = "皖建安C(2025)0001") -> dict:
    data = {
        "kind": "安全生产考核合格证",
        "number": number,
        "grade": "C",
        "issued_on": "2025-01-01",
        "expires_on": "2028-01-01",
        "csrf_token": token,
    }
    if scan is not None:
        data["scan"] = (io.BytesIO(scan), "证书.pdf")
    return data


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def stored_files_on_disk(app) -> list[Path]:
    root = Path(app.config["UPLOAD_ROOT"])
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def test_the_same_certificate_twice_answers_already_added_and_keeps_one_row(app, client, auth):
    user = make_enterprise_user()
    staff = make_staff(user.enterprise, 1)
    auth.login(user.username)
    url = f"/training/staff/{staff.id}/certificates"
    token = csrf_token(client, f"/training/staff/{staff.id}")
    client.post(url, data=certificate_form(token))
    response = client.post(url, data=certificate_form(token), follow_redirects=True)
    assert response.status_code == 200
    assert ALREADY_ADDED in response.get_data(as_text=True)
    assert count(StaffCertificate) == 1
    # surrounding spaces do not make another certificate; another number does
    client.post(url, data=certificate_form(token, number=" 皖建安C(2025)0001 "))
    client.post(url, data=certificate_form(token, number="皖建安C(2025)0002"))
    assert count(StaffCertificate) == 2


def test_a_simultaneous_duplicate_rolls_back_with_its_scan(app, client, auth, monkeypatch):
    """The second request looked before the first committed: the unique constraint answers, its scan is gone."""
    from test_uploads import minimal_pdf

    user = make_enterprise_user()
    staff = make_staff(user.enterprise, 2)
    auth.login(user.username)
    url = f"/training/staff/{staff.id}/certificates"
    token = csrf_token(client, f"/training/staff/{staff.id}")
    client.post(url, data=certificate_form(token, minimal_pdf()), content_type="multipart/form-data")
    assert (count(StaffCertificate), count(StoredFile), len(stored_files_on_disk(app))) == (1, 1, 1)
    monkeypatch.setattr(TrainingView, "_certificate_held", staticmethod(lambda *args: False))
    response = client.post(
        url, data=certificate_form(token, minimal_pdf()), content_type="multipart/form-data", follow_redirects=True
    )
    assert response.status_code == 200
    assert ALREADY_ADDED in response.get_data(as_text=True)
    db.session.expire_all()
    assert (count(StaffCertificate), count(StoredFile), len(stored_files_on_disk(app))) == (1, 1, 1)


def test_two_simultaneous_posts_leave_one_row(_app, tmp_path, database_url):
    if database_url.startswith("sqlite"):
        pytest.skip("needs a database that lets two writers meet: runs on PostgreSQL in CI")
    from conftest import clean_database

    with _app.app_context():
        clean_database()
        user = make_enterprise_user()
        staff_id = make_staff(user.enterprise, 3).id
        username = user.username

    def poster(app):
        def attempt(go) -> int:
            client = app.test_client()
            AuthActions(client).login(username, kind="enterprise")
            token = csrf_token(client, f"/training/staff/{staff_id}")
            go()
            return client.post(f"/training/staff/{staff_id}/certificates", data=certificate_form(token)).status_code

        return attempt

    try:
        statuses = race([poster(app) for app in separate_apps(2, tmp_path, database_url)], timeout=30)
        assert statuses == [302, 302]
        with _app.app_context():
            assert count(StaffCertificate) == 1
    finally:
        with _app.app_context():
            clean_database()


def test_migration_keeps_the_first_of_each_duplicate(tmp_path):
    """Rows doubled before the constraint existed: the migration keeps the lowest id of each and adds it."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import text

    from app import MIGRATIONS_DIR

    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = create_app("config.Config", **app_settings(tmp_path, url))
    with old.app_context():
        upgrade(directory=MIGRATIONS_DIR, revision="27f3178f15cb")
        statements = [
            "INSERT INTO enterprise (id, name, credit_code, region_code, province, city, district, created_on, "
            "changed_on) VALUES (1, '安防公司', '91340104MA0000001X', '340104', '安徽省', '合肥市', '蜀山区', "
            "'2025-01-01', '2025-01-01')",
            "INSERT INTO technical_staff (id, enterprise_id, name, gender, id_number, mobile, education, title, "
            "position, insurance_months, archived, created_on, changed_on) VALUES (5, 1, '王工', 'male', "
            "'340104199001011234', '13900000000', '本科', '工程师', '施工员', 12, 0, '2025-01-01', '2025-01-01')",
        ]
        for certificate_id, number in ((3, "A1"), (4, "A1"), (7, "B2"), (9, "A1"), (11, "B2"), (12, "C3")):
            statements.append(
                "INSERT INTO staff_certificate (id, staff_id, enterprise_id, kind, number) "
                f"VALUES ({certificate_id}, 5, 1, '安全员证', '{number}')"
            )
        for statement in statements:
            db.session.execute(text(statement))
        db.session.commit()
        upgrade(directory=MIGRATIONS_DIR, revision="2942e89a126a")
        kept = db.session.execute(text("SELECT id, number FROM staff_certificate ORDER BY id")).all()
        assert [tuple(row) for row in kept] == [(3, "A1"), (7, "B2"), (12, "C3")]
        with pytest.raises(Exception, match="UNIQUE"):
            db.session.execute(
                text(
                    "INSERT INTO staff_certificate (staff_id, enterprise_id, kind, number) VALUES (5, 1, '安全员证', 'C3')"
                )
            )
        db.session.rollback()
        downgrade(directory=MIGRATIONS_DIR, revision="27f3178f15cb")
        db.session.execute(
            text(
                "INSERT INTO staff_certificate (staff_id, enterprise_id, kind, number) VALUES (5, 1, '安全员证', 'C3')"
            )
        )
        db.session.commit()

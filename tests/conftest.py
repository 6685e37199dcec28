"""Fixtures in the shape of the Flask tutorial: `app`, `client`, `auth`; plus small factories."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from flask_appbuilder import Model
from flask_migrate import upgrade

from app import MIGRATIONS_DIR, create_app, db
from app.roles import sync_roles

# Rows that describe the application itself (permissions, roles), kept between tests.
KEPT_TABLES = {
    "ab_permission",
    "ab_view_menu",
    "ab_permission_view",
    "ab_role",
    "ab_permission_view_role",
    "alembic_version",
}
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
PASSWORD = "Test1234pass"
NO_BROWSER = "browser journeys need Chromium at"


def app_settings(tmp_path: Path, database_url: str, **overrides) -> dict:
    settings = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "UPLOAD_ROOT": str(tmp_path / "uploads"),
        "RATELIMIT_STORAGE_URI": "memory://",
    }
    settings.update(overrides)
    return settings


class IsolatedClient(FlaskClient):
    """Each request in its own app context, as in production.

    Tests keep an app context pushed (factories need one); without this, requests would reuse
    it and share `g` (Flask-Login's cached user) and the database session with the test.
    """

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """SQLite in a temporary file, or TEST_DATABASE_URL; with pytest-xdist, one PostgreSQL database per
    worker beside the named one (created here, dropped at the end)."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        yield url
        return
    from sqlalchemy import create_engine, make_url, text

    base = make_url(url)
    name = f"{base.database}_{worker}"
    server = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield base.set(database=name).render_as_string(hide_password=False)
    with server.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    server.dispose()


@pytest.fixture(scope="session")
def _app(tmp_path_factory, database_url):
    app = create_app("config.Config", **app_settings(tmp_path_factory.mktemp("app"), database_url))
    app.test_client_class = IsolatedClient
    with app.app_context():
        upgrade(directory=MIGRATIONS_DIR)
        sync_roles(app.appbuilder)
    return app


def clean_database() -> None:
    """Empty every data table, then put the default configuration back (as `flask seed` does)."""
    from app.settings import seed_defaults

    with db.engine.begin() as connection:
        for table in reversed(Model.metadata.sorted_tables):
            if table.name not in KEPT_TABLES:
                connection.execute(table.delete())
    seed_defaults()


@pytest.fixture
def app(_app):
    shutil.rmtree(_app.config["UPLOAD_ROOT"], ignore_errors=True)
    (Path(_app.instance_path) / "sms-outbox.jsonl").unlink(missing_ok=True)
    with _app.app_context():
        clean_database()
        _app.appbuilder.sm.limiter.reset()
    ctx = _app.app_context()
    ctx.push()
    yield _app
    db.session.rollback()
    db.session.remove()
    ctx.pop()


@pytest.fixture
def client(app):
    return app.test_client()


def csrf_token(client, url: str = "/login/") -> str:
    page = client.get(url, follow_redirects=True).get_data(as_text=True)
    match = CSRF_RE.search(page)
    assert match, f"no csrf token on {url}"
    return match.group(1)


def user_kind_of(username: str) -> str:
    from app.models import PlatformUser
    from app.scoping import is_enterprise_user

    user = db.session.query(PlatformUser).filter_by(username=username).one_or_none()
    return "enterprise" if user is None or is_enterprise_user(user) else "association"


class AuthActions:
    def __init__(self, client):
        self._client = client

    def login(self, username: str, password: str = PASSWORD, follow_redirects: bool = False, kind: str | None = None):
        """Sign in; the 企业用户/协会用户 choice follows the account's roles unless given."""
        if kind is None:
            kind = user_kind_of(username)
        token = csrf_token(self._client)
        return self._client.post(
            "/login/",
            data={"user_kind": kind, "username": username, "password": password, "csrf_token": token},
            follow_redirects=follow_redirects,
        )

    def logout(self):
        token = csrf_token(self._client, "/")
        return self._client.post("/logout/", data={"csrf_token": token})


@pytest.fixture
def auth(client):
    return AuthActions(client)


def outbox(app) -> list[dict]:
    """Messages the development SMS gateway wrote (instance/sms-outbox.jsonl)."""
    path = Path(app.instance_path) / "sms-outbox.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def last_code(app, phone: str, purpose: str) -> str:
    codes = [m["code"] for m in outbox(app) if m["to"] == phone and m["purpose"] == purpose]
    assert codes, f"no {purpose} code was sent to {phone}"
    return codes[-1]


def pytest_terminal_summary(terminalreporter):
    """Say it loudly when the browser journeys were skipped for want of Chromium (read from the skip
    reports, which is where pytest-xdist's workers leave them)."""
    skipped = [str(getattr(report, "longrepr", "")) for report in terminalreporter.stats.get("skipped", [])]
    if any(NO_BROWSER in reason for reason in skipped):
        terminalreporter.write_sep("!", "BROWSER JOURNEYS SKIPPED: no Chromium at /usr/bin/chromium", yellow=True)

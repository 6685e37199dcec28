"""Login rate limiting: on by default, in memory for one process, shared through Redis."""

import socket
import uuid

import pytest

from app import create_app
from conftest import AuthActions, app_settings


def attempt_logins(client, count):
    auth = AuthActions(client)
    return [auth.login("nobody", "wrong-password", kind="enterprise").status_code for _ in range(count)]


def test_login_is_rate_limited(_app, tmp_path, database_url):
    app = create_app("config.Config", **app_settings(tmp_path, database_url, AUTH_RATE_LIMIT="3 per minute"))
    codes = attempt_logins(app.test_client(), 5)
    assert codes[:3] == [302, 302, 302]
    assert codes[3:] == [429, 429]


def test_rate_limited_page_is_chinese(_app, tmp_path, database_url):
    app = create_app("config.Config", **app_settings(tmp_path, database_url, AUTH_RATE_LIMIT="1 per minute"))
    client = app.test_client()
    attempt_logins(client, 1)
    auth = AuthActions(client)
    response = auth.login("nobody", "wrong", kind="enterprise")
    assert response.status_code == 429
    assert "尝试次数过多" in response.get_data(as_text=True)


def redis_available() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not redis_available(), reason="no Redis on 127.0.0.1:6379")
def test_workers_share_the_limit_through_redis(_app, tmp_path, database_url):
    settings = app_settings(
        tmp_path,
        database_url,
        AUTH_RATE_LIMIT="4 per minute",
        RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379/15",
        RATELIMIT_KEY_PREFIX=f"test-{uuid.uuid4().hex}",
    )
    worker_one = create_app("config.Config", **settings)
    worker_two = create_app("config.Config", **settings)
    assert attempt_logins(worker_one.test_client(), 2) == [302, 302]
    assert attempt_logins(worker_two.test_client(), 3) == [302, 302, 429]

"""Sign-in limits count failures only: per account (delay, then a lock an SMS reset lifts) and per
address at a high ceiling; the same for SMS-code checks and legacy activation; shared by workers."""

from __future__ import annotations

import time
import uuid

import pytest
from test_login import reset
from test_rate_limit import redis_available

from app import create_app, db
from app.accounts import import_legacy_accounts
from app.models import PlatformUser
from app.sms import SmsError, check_code, send_code
from conftest import CSRF_RE, IsolatedClient, app_settings, csrf_token, last_code
from factories import make_enterprise_user, make_user

GENERIC = "账号或密码错误"
LOCKED = "已被锁定"


def sign_in(client, username, password, kind, address="127.0.0.1"):
    """One sign-in from `address`; returns (status, flashed message page or None)."""
    environ = {"REMOTE_ADDR": address}
    page = client.get("/login/", environ_base=environ).get_data(as_text=True)
    token = CSRF_RE.search(page).group(1)
    response = client.post(
        "/login/",
        data={"user_kind": kind, "username": username, "password": password, "csrf_token": token},
        environ_base=environ,
    )
    return response


def signed_in(client) -> bool:
    return client.get("/account/info").status_code == 200


def test_fifty_successful_sign_ins_from_one_address_all_pass(app):
    first = make_user("Reviewer")
    role = app.appbuilder.sm.find_role("Reviewer")
    users = [first]
    for number in range(49):
        # Same password hash as the first account: 49 scrypt hashings would only slow the test.
        user = PlatformUser(
            username=f"office{number}",
            first_name=f"office{number}",
            last_name="",
            email=f"office{number}@association.example",
            active=True,
            password=first.password,
            roles=[role],
        )
        db.session.add(user)
        users.append(user)
    db.session.commit()
    for user in users:
        client = app.test_client()
        response = sign_in(client, user.username, "Test1234pass", "association")
        assert response.status_code == 302, user.username
        assert "/login/" not in response.headers["Location"], user.username
        assert signed_in(client), user.username


def test_sixth_wrong_password_is_refused_whatever_the_address(app, monkeypatch):
    monkeypatch.setitem(app.config, "THROTTLE_DELAYS", ())
    user = make_enterprise_user()
    client = app.test_client()
    for attempt in range(5):
        response = sign_in(client, user.username, f"wrong{attempt}x", "enterprise", address=f"10.0.0.{attempt + 1}")
        assert response.status_code == 302
        assert GENERIC in client.get(response.headers["Location"]).get_data(as_text=True)
    # The right password, from yet another address: the account is locked.
    response = sign_in(client, user.username, "Test1234pass", "enterprise", address="10.9.9.9")
    assert LOCKED in client.get(response.headers["Location"]).get_data(as_text=True)
    assert not signed_in(client)
    # An unknown account name answers alike (no account enumeration through the lock).
    for attempt in range(6):
        response = sign_in(client, "13099998888", f"wrong{attempt}x", "enterprise", address=f"10.1.0.{attempt}")
    assert LOCKED in client.get(response.headers["Location"]).get_data(as_text=True)


def test_sms_password_reset_lifts_the_lock(app, monkeypatch):
    monkeypatch.setitem(app.config, "THROTTLE_DELAYS", ())
    user = make_enterprise_user()
    client = app.test_client()
    for attempt in range(5):
        sign_in(client, user.username, f"wrong{attempt}x", "enterprise")
    response = sign_in(client, user.username, "Test1234pass", "enterprise")
    assert LOCKED in client.get(response.headers["Location"]).get_data(as_text=True)
    reset(client, app, user.phone, password="fresh1234")
    response = sign_in(client, user.username, "fresh1234", "enterprise")
    assert "/login/" not in response.headers["Location"]
    assert signed_in(client)


def test_delay_grows_after_a_few_failures_and_ends(app, monkeypatch):
    monkeypatch.setitem(app.config, "THROTTLE_DELAYS", (0, 0, 1))
    user = make_enterprise_user()
    client = app.test_client()
    for attempt in range(3):
        sign_in(client, user.username, f"wrong{attempt}x", "enterprise")
    response = sign_in(client, user.username, "Test1234pass", "enterprise")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "秒后再试" in page and not signed_in(client)
    time.sleep(2.1)
    response = sign_in(client, user.username, "Test1234pass", "enterprise")
    assert "/login/" not in response.headers["Location"] and signed_in(client)


def test_address_ceiling_counts_failures_not_successes(app, monkeypatch):
    monkeypatch.setitem(app.config, "AUTH_RATE_LIMIT", "3 per minute")
    user = make_enterprise_user()
    for _ in range(5):
        client = app.test_client()
        assert sign_in(client, user.username, "Test1234pass", "enterprise").status_code == 302
        assert signed_in(client)
    client = app.test_client()
    for attempt in range(3):
        assert sign_in(client, f"1300000000{attempt}", "wrong1x", "enterprise").status_code == 302
    assert sign_in(client, user.username, "Test1234pass", "enterprise").status_code == 429
    # Another address is not affected.
    assert sign_in(client, user.username, "Test1234pass", "enterprise", address="10.2.2.2").status_code == 302


def test_sms_code_failures_count_per_phone_across_codes(app, monkeypatch):
    monkeypatch.setitem(app.config, "SMS_RESEND_SECONDS", 0)
    phone = "13955550001"
    with app.test_request_context(environ_base={"REMOTE_ADDR": "10.3.0.1"}):
        for _code in range(2):  # each code allows five tries; two codes' worth locks the phone's checks
            send_code(phone, "register")
            wrong = "000000" if last_code(app, phone, "register") != "000000" else "111111"
            for _attempt in range(5):
                with pytest.raises(SmsError) as excinfo:
                    check_code(phone, "register", wrong)
                assert excinfo.value.message == "验证码错误"
        send_code(phone, "register")
    # A fresh, correct code, checked from another address: refused.
    with app.test_request_context(environ_base={"REMOTE_ADDR": "10.3.0.2"}):
        with pytest.raises(SmsError) as excinfo:
            check_code(phone, "register", last_code(app, phone, "register"))
    assert "失败次数过多" in excinfo.value.message


def test_legacy_activation_failures_count_per_old_account(app, monkeypatch):
    from test_legacy_activation import csv_bytes, row

    monkeypatch.setitem(app.config, "THROTTLE_DELAYS", ())
    import_legacy_accounts(csv_bytes(row("laowang", "OldPass88")))
    client = app.test_client()

    def attempt(password, address):
        token = csrf_token(client, "/activate/")
        return client.post(
            "/activate/",
            data={"old_account": "laowang", "password": password, "csrf_token": token},
            environ_base={"REMOTE_ADDR": address},
        )

    for number in range(5):
        assert "老系统账号或密码错误" in attempt(f"guess{number}", f"10.4.0.{number}").get_data(as_text=True)
    response = attempt("OldPass88", "10.4.1.1")
    assert response.status_code == 200 and "失败次数过多" in response.get_data(as_text=True)
    assert client.get("/activate/phone").headers["Location"].endswith("/activate/")


def test_production_refuses_in_memory_limit_storage(tmp_path, database_url):
    settings = app_settings(tmp_path, database_url, RATELIMIT_STORAGE_URI="memory://")
    with pytest.raises(RuntimeError) as excinfo:
        create_app("config.ProductionConfig", **settings)
    assert "RATELIMIT_STORAGE_URI" in str(excinfo.value) and "redis://" in str(excinfo.value)


@pytest.mark.skipif(not redis_available(), reason="no Redis on 127.0.0.1:6379")
def test_two_workers_share_the_account_count_through_redis(app, tmp_path, database_url):
    settings = app_settings(
        tmp_path,
        database_url,
        RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379/15",
        RATELIMIT_KEY_PREFIX=f"test-{uuid.uuid4().hex}",
        THROTTLE_DELAYS=(),
    )
    # Production settings start with Redis; plain http only because the test client has no TLS.
    production = create_app(
        "config.ProductionConfig", **settings, SESSION_COOKIE_SECURE=False, PREFERRED_URL_SCHEME="http"
    )
    worker_two = create_app("config.Config", **settings)
    for worker in (production, worker_two):
        worker.test_client_class = IsolatedClient
    user = make_enterprise_user()
    one, two = production.test_client(), worker_two.test_client()
    for attempt in range(3):
        response = sign_in(one, user.username, f"wrong{attempt}x", "enterprise", address="10.5.0.1")
        assert response.status_code == 302
    for attempt in range(2):
        assert sign_in(two, user.username, f"wrong{attempt}y", "enterprise", address="10.5.0.2").status_code == 302
    response = sign_in(two, user.username, "Test1234pass", "enterprise", address="10.5.0.3")
    assert LOCKED in two.get(response.headers["Location"]).get_data(as_text=True)
    production.appbuilder.sm.limiter.reset()


def test_sign_out_ends_the_session_on_the_server(app, client, auth):
    """A cookie copied before 退出登录 no longer works afterwards."""
    user = make_enterprise_user()
    auth.login(user.username)
    assert client.get("/portal/").status_code == 200
    copied = client.get_cookie("sifp_session").value
    auth.logout()
    thief = app.test_client()
    thief.set_cookie("sifp_session", copied)
    response = thief.get("/portal/")
    assert response.status_code == 302 and "/login/" in response.headers["Location"]


def test_other_sessions_survive_one_sign_out(app):
    user = make_enterprise_user()
    office, home = app.test_client(), app.test_client()
    from conftest import AuthActions

    AuthActions(office).login(user.username)
    AuthActions(home).login(user.username)
    AuthActions(office).logout()
    assert home.get("/portal/").status_code == 200
    assert office.get("/portal/").status_code == 302

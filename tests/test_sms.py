"""SMS codes: 6 digits, 5 minutes, resend after 60 s, 10 a day, 5 tries, hashed, single use, per purpose."""

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from sqlalchemy import func, select

from app import db
from app.models import SmsCode
from app.sms import HttpGateway, SmsError, SmsSendError, check_code, purge_expired, send_code
from conftest import last_code, outbox

PHONE = "13912345678"


def age_codes(seconds: int) -> None:
    """Move every stored code back in time, as if `seconds` had passed."""
    delta = dt.timedelta(seconds=seconds)
    for row in db.session.scalars(select(SmsCode)):
        row.created_on -= delta
        row.expires_on -= delta
    db.session.commit()


def code_count() -> int:
    return db.session.scalar(select(func.count()).select_from(SmsCode))


def test_code_is_sent_to_the_outbox_and_stored_hashed(app):
    send_code(PHONE, "register")
    (message,) = outbox(app)
    assert set(message) == {"to", "text", "purpose", "code", "at"}
    assert message["to"] == PHONE and message["purpose"] == "register"
    assert len(message["code"]) == 6 and message["code"].isdigit()
    assert message["code"] in message["text"] and "验证码" in message["text"] and "5分钟" in message["text"]
    row = db.session.scalar(select(SmsCode))
    assert message["code"] not in row.code_hash and len(row.code_hash) == 64


def test_correct_code_is_accepted_once(app):
    send_code(PHONE, "register")
    code = last_code(app, PHONE, "register")
    check_code(PHONE, "register", code)
    with pytest.raises(SmsError) as excinfo:
        check_code(PHONE, "register", code)
    assert "已失效" in excinfo.value.message


def test_code_expires_after_five_minutes(app):
    send_code(PHONE, "register")
    age_codes(301)
    with pytest.raises(SmsError) as excinfo:
        check_code(PHONE, "register", last_code(app, PHONE, "register"))
    assert "已失效" in excinfo.value.message


def test_resend_only_after_sixty_seconds(app):
    send_code(PHONE, "register")
    with pytest.raises(SmsError) as excinfo:
        send_code(PHONE, "activate")  # the interval is per phone, whatever the purpose
    assert excinfo.value.retry_after and 0 < excinfo.value.retry_after <= 60
    assert "秒后再获取" in excinfo.value.message
    age_codes(61)
    send_code(PHONE, "register")
    assert len(outbox(app)) == 2


def test_at_most_ten_codes_a_day(app, monkeypatch):
    monkeypatch.setitem(app.config, "SMS_RESEND_SECONDS", 0)  # only the daily cap is under test
    for _ in range(10):
        send_code(PHONE, "register")
    with pytest.raises(SmsError) as excinfo:
        send_code(PHONE, "register")
    assert "上限" in excinfo.value.message
    assert len(outbox(app)) == 10
    send_code("13912345679", "register")  # another phone is not affected


def test_five_wrong_tries_void_the_code(app):
    send_code(PHONE, "register")
    code = last_code(app, PHONE, "register")
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        with pytest.raises(SmsError) as excinfo:
            check_code(PHONE, "register", wrong)
        assert excinfo.value.message == "验证码错误"
    with pytest.raises(SmsError) as excinfo:
        check_code(PHONE, "register", code)
    assert "次数过多" in excinfo.value.message


def test_code_is_bound_to_its_purpose_and_phone(app):
    send_code(PHONE, "register")
    code = last_code(app, PHONE, "register")
    with pytest.raises(SmsError):
        check_code(PHONE, "activate", code)
    with pytest.raises(SmsError):
        check_code("13912345679", "register", code)
    check_code(PHONE, "register", code)


@pytest.mark.parametrize("phone", ["1391234567", "23912345678", "139123456789", "abc"])
def test_invalid_phone_is_refused(app, phone):
    with pytest.raises(SmsError) as excinfo:
        send_code(phone, "register")
    assert "11位手机号" in excinfo.value.message
    assert code_count() == 0


def test_gateway_failure_keeps_nothing(app, monkeypatch):
    class Broken:
        def send(self, *args):
            raise SmsSendError("down")

    monkeypatch.setattr("app.sms.gateway", lambda: Broken())
    with pytest.raises(SmsError) as excinfo:
        send_code(PHONE, "register")
    assert "短信发送失败" in excinfo.value.message
    assert code_count() == 0


def test_purge_removes_long_expired_codes(app):
    send_code(PHONE, "register")
    age_codes(3 * 24 * 3600)
    send_code("13912345679", "register")
    assert purge_expired() == 1
    assert code_count() == 1


class StubProvider(BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):  # noqa: N802 (http.server naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        StubProvider.received.append({"auth": self.headers["Authorization"], "body": json.loads(body)})
        self.send_response(StubProvider.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"ok": true}' if StubProvider.status == 200 else b'{"ok": false, "error": "quota"}')

    def log_message(self, *args):
        pass


@pytest.fixture
def stub_provider():
    StubProvider.received = []
    StubProvider.status = 200
    server = HTTPServer(("127.0.0.1", 0), StubProvider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/send"
    server.shutdown()


def test_http_gateway_posts_to_the_provider(app, stub_provider):
    app.config.update(SMS_BACKEND="http", SMS_HTTP_URL=stub_provider, SMS_HTTP_TOKEN="secret-token")
    try:
        send_code(PHONE, "reset_password")
    finally:
        app.config["SMS_BACKEND"] = "file"
    (request,) = StubProvider.received
    assert request["auth"] == "Bearer secret-token"
    assert request["body"]["to"] == PHONE and "验证码" in request["body"]["text"]
    assert outbox(app) == []


def test_http_gateway_refusal_keeps_nothing(app, stub_provider):
    StubProvider.status = 500
    app.config.update(SMS_BACKEND="http", SMS_HTTP_URL=stub_provider, SMS_HTTP_TOKEN="t")
    try:
        with pytest.raises(SmsError):
            send_code(PHONE, "register")
    finally:
        app.config["SMS_BACKEND"] = "file"
    assert code_count() == 0


def test_http_gateway_unreachable():
    gateway = HttpGateway("http://127.0.0.1:9/none", "t", timeout=0.5)
    with pytest.raises(SmsSendError):
        gateway.send(PHONE, "x", "register", "123456")


def test_wrong_tries_are_counted_atomically(app):
    send_code(PHONE, "register")
    code = last_code(app, PHONE, "register")
    row = db.session.scalar(select(SmsCode))
    row.attempts = 4  # four wrong tries already made, e.g. by parallel requests
    db.session.commit()
    with pytest.raises(SmsError):
        check_code(PHONE, "register", "000000" if code != "000000" else "111111")
    with pytest.raises(SmsError) as excinfo:
        check_code(PHONE, "register", code)
    assert "次数过多" in excinfo.value.message

"""SMS in bulk: a picture captcha after a few codes per address, a daily budget per address and a
platform-wide hourly budget; every refusal is JSON the page shows, never an HTML error page."""

from __future__ import annotations

from app import db
from app.models import Setting
from conftest import csrf_token, outbox
from factories import make_user


def ask(client, phone, token, address="10.7.0.1", url="/register/code", **extra):
    return client.post(url, data={"phone": phone, "csrf_token": token, **extra}, environ_base={"REMOTE_ADDR": address})


def test_captcha_is_required_after_a_few_codes_from_one_address(app, client, monkeypatch):
    monkeypatch.setattr("app.sms_guard.new_captcha_text", lambda: "K7MP")
    token = csrf_token(client, "/register/")
    for number in range(3):
        assert ask(client, f"1390000000{number}", token).get_json()["ok"]
    refused = ask(client, "13900000009", token)
    assert refused.status_code == 400 and refused.is_json
    assert refused.get_json()["captcha"] is True and "图片" in refused.get_json()["message"]
    image = client.get("/captcha/")
    assert (
        image.status_code == 200 and image.data.startswith(b"\x89PNG") and image.headers["Cache-Control"] == "no-store"
    )
    wrong = ask(client, "13900000009", token, captcha="AAAA")
    assert wrong.get_json()["captcha"] is True
    client.get("/captcha/")
    passed = ask(client, "13900000009", token, captcha="k7mp")
    assert passed.get_json()["ok"] is True
    # A solved captcha is spent: the same answer does not open the next send.
    again = ask(client, "13900000008", token, captcha="K7MP")
    assert again.get_json()["captcha"] is True
    assert len(outbox(app)) == 4
    # Another address has its own count.
    other = app.test_client()
    assert ask(other, "13900000007", csrf_token(other, "/register/"), address="10.7.9.9").get_json()["ok"]


def test_address_daily_budget_refuses_with_json(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "SMS_ADDRESS_DAILY_LIMIT", 2)
    monkeypatch.setitem(app.config, "SMS_CAPTCHA_AFTER", 100)
    token = csrf_token(client, "/register/")
    assert ask(client, "13911110001", token).get_json()["ok"]
    assert ask(client, "13911110002", token, url="/forgot-password/code").get_json()["ok"]
    refused = ask(client, "13911110003", token)
    assert refused.status_code == 429 and refused.is_json
    assert refused.get_json()["ok"] is False and "今日" in refused.get_json()["message"]
    assert ask(client, "13911110004", token, url="/forgot-password/code").status_code == 429
    assert len(outbox(app)) == 1  # the reset code went to an unknown phone: recorded, not sent


def test_platform_hourly_budget_refuses_and_alerts_the_association_admin(app, client, auth, monkeypatch):
    monkeypatch.setitem(app.config, "SMS_CAPTCHA_AFTER", 100)
    db.session.query(Setting).filter(Setting.key == "sms.hourly_budget").update({"value": "2"})
    db.session.commit()
    token = csrf_token(client, "/register/")
    for number in range(2):
        assert ask(client, f"1392222000{number}", token, address=f"10.8.0.{number}").get_json()["ok"]
    refused = ask(client, "13922220009", token, address="10.8.1.1")
    assert refused.is_json and refused.get_json()["ok"] is False and "平台" in refused.get_json()["message"]
    assert len(outbox(app)) == 2

    admin = make_user("AssociationAdmin")
    auth.login(admin.username)
    assert "sms.hourly_budget" in client.get("/backoffice/").get_data(as_text=True)
    auth.logout()
    reviewer = make_user("Reviewer")
    auth.login(reviewer.username)
    assert "sms.hourly_budget" not in client.get("/backoffice/").get_data(as_text=True)


def test_budget_is_a_seeded_setting(app):
    assert db.session.query(Setting).filter(Setting.key == "sms.hourly_budget").one().value == "500"


def test_wizard_rate_limit_on_code_buttons_answers_json(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "WIZARD_RATE_LIMIT", "2 per minute")
    monkeypatch.setitem(app.config, "SMS_CAPTCHA_AFTER", 100)
    token = csrf_token(client, "/register/")
    for number in range(2):
        ask(client, f"1393333000{number}", token)
    refused = ask(client, "13933330009", token)
    assert refused.status_code == 429 and refused.is_json
    assert "尝试次数过多" in refused.get_json()["message"]

"""F2 登录 and 忘记密码: user kinds, one generic message, no account enumeration."""

import re

from sqlalchemy import select

from app import db
from app.models import PlatformUser
from conftest import CSRF_RE, AuthActions, csrf_token, last_code, outbox
from factories import make_enterprise_user, make_user

GENERIC = "账号或密码错误"


def flashed_page(client, response):
    return client.get(response.headers["Location"]).get_data(as_text=True)


def test_login_page_follows_the_manual(client):
    page = client.get("/login/").get_data(as_text=True)
    for label in ("企业用户", "协会用户", "账号", "密码", "登录", "注册", "老系统用户激活", "忘记密码"):
        assert label in page


def test_enterprise_user_signs_in_as_enterprise_only(app, client, auth):
    user = make_enterprise_user()
    response = auth.login(user.username, kind="association")
    assert GENERIC in flashed_page(client, response)
    assert client.get("/portal/").status_code == 302
    response = auth.login(user.username, kind="enterprise")
    assert client.get("/portal/").status_code == 200


def test_association_user_signs_in_as_association_only(app, client, auth):
    user = make_user("Reviewer")
    response = auth.login(user.username, kind="enterprise")
    assert GENERIC in flashed_page(client, response)
    auth.login(user.username, kind="association")
    assert client.get("/backoffice/").status_code == 200


def test_failures_look_the_same(app, client, auth):
    user = make_enterprise_user()
    pages = []
    for username, password in ((user.username, "wrong-pass1"), ("13000000000", "whatever1"), (user.username, "")):
        response = auth.login(username, password)
        pages.append(flashed_page(client, response) if response.status_code == 302 else response.get_data(as_text=True))
    assert GENERIC in pages[0] and GENERIC in pages[1]

    # CSRF tokens carry a timestamp and script nonces are new for every response: compare everything else.
    def unify(page, name):
        page = CSRF_RE.sub('name="csrf_token" value=""', page.replace(name, ""))
        return re.sub(r'nonce="[^"]*"', 'nonce=""', page)

    assert unify(pages[0], user.username) == unify(pages[1], "13000000000")


def test_inactive_account_cannot_sign_in(app, client, auth):
    user = make_enterprise_user()
    user.active = False
    db.session.commit()
    assert GENERIC in flashed_page(client, auth.login(user.username))


def reset(client, app, phone, password="newpass123"):
    token = csrf_token(client, "/forgot-password/")
    assert client.post("/forgot-password/code", data={"phone": phone, "csrf_token": token}).get_json()["ok"]
    response = client.post(
        "/forgot-password/", data={"phone": phone, "code": last_code(app, phone, "reset_password"), "csrf_token": token}
    )
    assert response.headers["Location"].endswith("/forgot-password/new")
    token = csrf_token(client, "/forgot-password/new")
    return client.post("/forgot-password/new", data={"password": password, "confirm": password, "csrf_token": token})


def test_forgot_password_resets_by_sms_and_signs_out_other_sessions(app, client, auth):
    user = make_enterprise_user()
    other = app.test_client()
    AuthActions(other).login(user.username)
    assert other.get("/portal/").status_code == 200
    response = reset(client, app, user.phone)
    assert "/login/" in response.headers["Location"]
    assert "密码已重置" in flashed_page(client, response)
    assert other.get("/portal/").status_code == 302  # the older session is over
    assert GENERIC in flashed_page(client, auth.login(user.username))
    auth.login(user.username, "newpass123")
    assert client.get("/portal/").status_code == 200


def test_forgot_password_does_not_reveal_unknown_phones(app, client):
    token = csrf_token(client, "/forgot-password/")
    response = client.post("/forgot-password/code", data={"phone": "13011112222", "csrf_token": token})
    assert response.get_json() == {"ok": True, "message": "验证码已发送", "wait": 60}
    assert outbox(app) == []
    response = client.post("/forgot-password/", data={"phone": "13011112222", "code": "123456", "csrf_token": token})
    assert response.status_code == 200 and "验证码" in response.get_data(as_text=True)


def test_reset_step_two_needs_a_verified_phone(app, client):
    user = make_enterprise_user()
    token = csrf_token(client, "/forgot-password/")
    response = client.post(
        "/forgot-password/new", data={"password": "x1234567", "confirm": "x1234567", "csrf_token": token}
    )
    assert response.headers["Location"].endswith("/forgot-password/")
    db.session.expire_all()
    assert db.session.scalar(select(PlatformUser.password).where(PlatformUser.id == user.id)) == user.password


def test_unknown_and_known_phones_answer_alike_on_repeat(app, client):
    user = make_enterprise_user()
    token = csrf_token(client, "/forgot-password/")
    answers = []
    for phone in (user.phone, "13011113333"):
        first = client.post("/forgot-password/code", data={"phone": phone, "csrf_token": token})
        second = client.post("/forgot-password/code", data={"phone": phone, "csrf_token": token})
        answers.append(
            (
                first.status_code,
                first.get_json()["ok"],
                second.status_code,
                "秒后再获取" in second.get_json()["message"],
            )
        )
    assert answers[0] == answers[1] == (200, True, 400, True)
    assert [m["to"] for m in outbox(app)] == [user.phone]

"""F13 账户管理: 修改信息 (a new phone needs its own code) and 修改密码 (other sessions end)."""

from sqlalchemy import select

from app import db
from app.models import PlatformUser
from conftest import AuthActions, csrf_token, last_code
from factories import PASSWORD, make_enterprise_user, make_user

NEW_PHONE = "13977770001"


def save_info(client, **data):
    token = csrf_token(client, "/account/info")
    return client.post("/account/info", data={"csrf_token": token, **data})


def change_password(client, old, new, confirm=None):
    token = csrf_token(client, "/account/password")
    return client.post(
        "/account/password", data={"old_password": old, "password": new, "confirm": confirm or new, "csrf_token": token}
    )


def test_pages_follow_the_manual(app, client, auth):
    user = make_enterprise_user()
    auth.login(user.username)
    page = client.get("/account/info").get_data(as_text=True)
    assert "修改保存" in page and "账户管理" in page and "修改信息" in page and "修改密码" in page
    page = client.get("/account/password").get_data(as_text=True)
    for label in ("原密码", "新密码", "确认新密码", "保存"):
        assert label in page


def test_change_name_and_email(app, client, auth):
    user = make_enterprise_user()
    auth.login(user.username)
    response = save_info(client, name="钱七", email="qian@example.com", phone=user.phone)
    assert response.status_code == 302
    db.session.expire_all()
    assert user.first_name == "钱七" and user.email == "qian@example.com" and user.username == user.phone


def test_new_phone_needs_a_code_sent_to_it(app, client, auth):
    user = make_enterprise_user()
    old_phone = user.phone
    auth.login(user.username)
    response = save_info(client, name="钱七", phone=NEW_PHONE, code="123456")
    assert response.status_code == 200 and "验证码" in response.get_data(as_text=True)
    token = csrf_token(client, "/account/info")
    assert client.post("/account/code", data={"phone": NEW_PHONE, "csrf_token": token}).get_json()["ok"]
    response = save_info(client, name="钱七", phone=NEW_PHONE, code=last_code(app, NEW_PHONE, "change_phone"))
    assert response.status_code == 302
    db.session.expire_all()
    assert user.phone == NEW_PHONE and user.username == NEW_PHONE
    auth.logout()
    assert client.get(auth.login(old_phone).headers["Location"]).status_code == 200
    assert client.get("/portal/").status_code == 302
    auth.login(NEW_PHONE)
    assert client.get("/portal/").status_code == 200


def test_phone_of_another_account_is_refused(app, client, auth):
    user = make_enterprise_user()
    other = make_enterprise_user()
    auth.login(user.username)
    token = csrf_token(client, "/account/info")
    response = client.post("/account/code", data={"phone": other.phone, "csrf_token": token})
    assert response.status_code == 400 and "已被注册" in response.get_json()["message"]
    response = save_info(client, name="x", phone=other.phone, code="123456")
    assert response.status_code == 200
    db.session.expire_all()
    assert user.phone != other.phone


def test_change_password_signs_out_other_sessions(app, client, auth):
    user = make_enterprise_user()
    auth.login(user.username)
    other = app.test_client()
    AuthActions(other).login(user.username)
    response = change_password(client, PASSWORD, "brandnew99")
    assert response.status_code == 302
    assert client.get("/portal/").status_code == 200  # this session goes on
    assert other.get("/portal/").status_code == 302  # the other one is signed out
    auth.logout()
    auth.login(user.username, "brandnew99")
    assert client.get("/portal/").status_code == 200


def test_change_password_refusals(app, client, auth):
    user = make_enterprise_user()
    auth.login(user.username)
    for old, new, confirm, message in (
        ("wrong-old1", "brandnew99", None, "原密码不正确"),
        (PASSWORD, PASSWORD, None, "不能与原密码相同"),
        (PASSWORD, "short1", "short2", "不一致"),
        (PASSWORD, "onlyletters", None, "字母和数字"),
    ):
        response = change_password(client, old, new, confirm)
        assert response.status_code == 200 and message in response.get_data(as_text=True)
    db.session.expire_all()
    stored = db.session.scalar(select(PlatformUser.password).where(PlatformUser.id == user.id))
    assert stored == user.password


def test_association_user_changes_password_too(app, client, auth):
    user = make_user("Reviewer")
    auth.login(user.username)
    assert change_password(client, PASSWORD, "reviewer2026").status_code == 302


def test_anonymous_is_sent_to_login(client):
    assert "/login/" in client.get("/account/info").headers["Location"]


def test_admin_password_reset_signs_the_user_out(app, client, auth):
    user = make_enterprise_user()
    victim_session = app.test_client()
    AuthActions(victim_session).login(user.username)
    assert victim_session.get("/portal/").status_code == 200
    admin = make_user("Admin")
    auth.login(admin.username)
    token = csrf_token(client, "/users/list/")
    response = client.post(
        f"/resetpassword/form?pk={user.id}",
        data={"password": "Reset2026ok", "conf_password": "Reset2026ok", "csrf_token": token},
    )
    assert response.status_code == 302
    assert victim_session.get("/portal/").status_code == 302
    assert client.get("/users/list/").status_code == 200  # the administrator stays signed in

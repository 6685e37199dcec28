"""F1 注册: the three-step wizard, state kept on the server, one account per phone and credit code."""

import pytest
from sqlalchemy import func, select

from app import db
from app.models import Enterprise, PlatformUser, WizardDraft
from conftest import csrf_token, last_code
from factories import credit_code, make_enterprise_user

PHONE = "13955550001"


def counts():
    return (
        db.session.scalar(select(func.count()).select_from(PlatformUser)),
        db.session.scalar(select(func.count()).select_from(Enterprise)),
    )


def enterprise_form(**overrides):
    data = {
        "contact_person": "王五",
        "name": "合肥安全防范工程有限公司",
        "credit_code": credit_code(777),
        "landline": "0551-62818875",
        "province": "34",
        "city": "3401",
        "district": "340104",
    }
    data.update(overrides)
    return data


def request_code(client, phone=PHONE, url="/register/code"):
    return client.post(url, data={"phone": phone, "csrf_token": csrf_token(client, "/register/")})


def step_one(app, client, phone=PHONE):
    assert request_code(client, phone).get_json()["ok"] is True
    return client.post(
        "/register/",
        data={
            "phone": phone,
            "code": last_code(app, phone, "register"),
            "csrf_token": csrf_token(client, "/register/"),
        },
    )


def step_two(client, password="abc12345", confirm=None):
    return client.post(
        "/register/password",
        data={
            "password": password,
            "confirm": confirm or password,
            "csrf_token": csrf_token(client, "/register/password"),
        },
    )


def step_three(client, **overrides):
    data = enterprise_form(**overrides)
    data["csrf_token"] = csrf_token(client, "/register/enterprise")
    return client.post("/register/enterprise", data=data)


def test_register_page_follows_the_manual(client):
    page = client.get("/register/").get_data(as_text=True)
    for label in ("手机号", "获取验证码", "验证码", "下一步"):
        assert label in page
    assert page.index("获取验证码") < page.index("下一步")


def test_full_registration_in_home_province(app, client, auth):
    assert step_one(app, client).headers["Location"].endswith("/register/password")
    page = client.get("/register/password").get_data(as_text=True)
    assert "确认密码" in page and "下一步" in page
    assert step_two(client).headers["Location"].endswith("/register/enterprise")
    page = client.get("/register/enterprise").get_data(as_text=True)
    for label in ("联系人", "企业名称", "统一社会信用代码", "企业固话", "企业地区", "提交注册"):
        assert label in page
    response = step_three(client)
    assert response.status_code == 302 and "/login/" in response.headers["Location"]
    user = db.session.scalar(select(PlatformUser).where(PlatformUser.phone == PHONE))
    assert user.username == PHONE and user.enterprise.name == "合肥安全防范工程有限公司"
    assert [role.name for role in user.roles] == ["Enterprise"]
    assert user.enterprise.region_label == "安徽省 合肥市 蜀山区"
    assert user.enterprise.landline == "0551-62818875" and user.enterprise.contact_person == "王五"
    assert db.session.scalar(select(func.count()).select_from(WizardDraft)) == 0
    assert auth.login(PHONE, "abc12345").headers["Location"].endswith("/")
    assert "合肥安全防范工程有限公司" in client.get("/portal/").get_data(as_text=True)


def test_out_of_province_enterprise_gets_its_role(app, client):
    step_one(app, client)
    step_two(client)
    step_three(client, province="32", city="3201", district="320102")
    user = db.session.scalar(select(PlatformUser).where(PlatformUser.phone == PHONE))
    assert [role.name for role in user.roles] == ["OutOfProvinceEnterprise"]


def test_steps_cannot_be_skipped(app, client):
    before = counts()
    response = step_three(client)
    assert response.headers["Location"].endswith("/register/")
    response = step_two(client)
    assert response.headers["Location"].endswith("/register/")
    assert counts() == before
    step_one(app, client)
    response = step_three(client)  # step 2 not done yet
    assert response.headers["Location"].endswith("/register/")
    assert counts() == before


def test_verified_phone_cannot_be_swapped(app, client):
    step_one(app, client)
    step_two(client)
    step_three(client, phone="13900009999", username="13900009999")
    assert db.session.scalar(select(PlatformUser).where(PlatformUser.phone == PHONE)) is not None
    assert db.session.scalar(select(PlatformUser).where(PlatformUser.phone == "13900009999")) is None


def test_wrong_code_stays_on_step_one(app, client):
    request_code(client)
    code = last_code(app, PHONE, "register")
    wrong = "000000" if code != "000000" else "111111"
    response = client.post(
        "/register/", data={"phone": PHONE, "code": wrong, "csrf_token": csrf_token(client, "/register/")}
    )
    assert response.status_code == 200 and "验证码错误" in response.get_data(as_text=True)
    assert client.get("/register/password").status_code == 302


def test_registered_phone_is_refused(app, client):
    user = make_enterprise_user()
    response = request_code(client, user.phone)
    assert response.status_code == 400 and "已注册" in response.get_json()["message"]


def test_duplicate_credit_code_is_refused_and_nothing_created(app, client):
    existing = make_enterprise_user()
    step_one(app, client)
    step_two(client)
    before = counts()
    response = step_three(client, credit_code=existing.enterprise.credit_code)
    assert response.status_code == 200 and "已注册" in response.get_data(as_text=True)
    assert counts() == before


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("credit_code", "91340104MA000077", "应为18位"),
        ("credit_code", "91340104MA0000771", "校验位"),
        ("landline", "12345", "固定电话"),
        ("district", "", "省、市、区县"),
        ("district", "320102", "省、市、区县"),  # a district outside the chosen city
        ("contact_person", "", "请输入联系人"),
        ("name", "", "请输入企业名称"),
    ],
)
def test_enterprise_step_validation(app, client, field, value, message):
    step_one(app, client)
    step_two(client)
    before = counts()
    if field == "credit_code" and value.endswith("1"):
        good = credit_code(771)
        value = good[:-1] + ("1" if good[-1] != "1" else "2")
    response = step_three(client, **{field: value})
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert counts() == before


@pytest.mark.parametrize(
    "password,confirm,message",
    [
        ("abc12", None, "6–18位"),
        ("abcdefgh", None, "字母和数字"),
        ("12345678", None, "字母和数字"),
        ("a1" * 10, None, "6–18位"),
        ("abc12345", "abc12346", "不一致"),
    ],
)
def test_password_step_validation(app, client, password, confirm, message):
    step_one(app, client)
    response = step_two(client, password, confirm)
    assert response.status_code == 200 and message in response.get_data(as_text=True)
    assert client.get("/register/enterprise").status_code == 302

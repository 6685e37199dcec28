"""F3 老系统用户激活: CSV import (all rows or none) and the one-time activation flow."""

import hashlib

import pytest
from sqlalchemy import func, select

from app import db
from app.accounts import import_legacy_accounts, parse_legacy_csv
from app.models import Enterprise, LegacyAccount, PlatformUser
from conftest import csrf_token, last_code
from factories import credit_code, make_enterprise_user

HEADER = "old_account,password_hash,hash_scheme,salt,enterprise_name,credit_code,region_code,contact_person,mobile,landline,address,legal_person"
PHONE = "13966660001"


def row(account, password, scheme="md5", salt="", code=None, region="340104", name=None):
    if scheme == "md5":
        digest = hashlib.md5(password.encode()).hexdigest()
    elif scheme == "sha1":
        digest = hashlib.sha1(password.encode()).hexdigest()
    elif scheme == "sha256_salted":
        digest = hashlib.sha256((salt + password).encode()).hexdigest()
    else:
        digest = password
    code = code or credit_code()
    name = name or f"{account}安防有限公司"
    return (
        f"{account},{digest},{scheme},{salt},{name},{code},{region},李四,13800000000,0551-1234567,合肥市长江路1号,赵六"
    )


def csv_bytes(*rows, encoding="utf-8"):
    return ("\n".join([HEADER, *rows]) + "\n").encode(encoding)


def legacy_count():
    return db.session.scalar(select(func.count()).select_from(LegacyAccount))


def test_import_all_schemes_utf8_and_gbk(app):
    count, errors = import_legacy_accounts(
        csv_bytes(
            row("old_md5", "pw1"),
            row("old_sha1", "pw2", "sha1"),
            row("old_salted", "pw3", "sha256_salted", salt="s@lt"),
        )
    )
    assert (count, errors) == (3, [])
    count, errors = import_legacy_accounts(
        csv_bytes(row("old_plain", "pw4", "plain", name="芜湖老用户安防公司"), encoding="gbk")
    )
    assert (count, errors) == (1, [])
    assert (
        db.session.scalar(select(LegacyAccount.enterprise_name).where(LegacyAccount.old_account == "old_plain"))
        == "芜湖老用户安防公司"
    )


def test_utf8_with_bom_is_read(app):
    assert import_legacy_accounts(b"\xef\xbb\xbf" + csv_bytes(row("bom_user", "pw")))[0] == 1


def test_every_bad_row_is_reported_and_nothing_imported(app):
    good = row("good", "pw")
    dup_code = credit_code(555)
    data = csv_bytes(
        good,
        row("bad_scheme", "pw", scheme="bcrypt"),
        f"bad_hash,nothex,md5,,名称,{credit_code()},340104,,,,,",
        row("bad_code", "pw", code="91340104MA00000001"),
        row("bad_region", "pw", region="999999"),
        row("good", "pw"),
        row("dup1", "pw", code=dup_code),
        row("dup2", "pw", code=dup_code),
        row("no_salt", "pw", scheme="sha256_salted"),
        ",,,,,,,,,,,",
    )
    rows, errors = parse_legacy_csv(data)
    text = "\n".join(errors)
    for expected in (
        "line 3: hash_scheme",
        "line 4: password_hash",
        "line 5: credit_code",
        "line 6: region_code",
        "line 7: old_account repeats line 2",
        "line 9: credit_code repeats line 8",
        "line 10: salt is empty",
        "line 11: old_account is empty",
    ):
        assert expected in text, expected
    assert import_legacy_accounts(data) == (0, errors)
    assert legacy_count() == 0


def test_rows_clashing_with_existing_data_are_refused(app):
    enterprise = make_enterprise_user().enterprise
    import_legacy_accounts(csv_bytes(row("first", "pw")))
    count, errors = import_legacy_accounts(
        csv_bytes(row("first", "pw"), row("second", "pw", code=enterprise.credit_code))
    )
    assert count == 0
    assert any("line 2: old_account was imported before" in e for e in errors)
    assert any("line 3: credit_code already exists" in e for e in errors)


def test_missing_columns(app):
    assert parse_legacy_csv(b"old_account,password_hash\nx,y\n")[1][0].startswith("header: missing columns")


def test_cli_import(app, tmp_path):
    good = tmp_path / "good.csv"
    good.write_bytes(csv_bytes(row("cli_user", "pw")))
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes(row("cli_bad", "pw", region="000000")))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["legacy", "import", "accounts", str(bad)])
    assert result.exit_code == 1 and "line 2: region_code" in result.output
    result = runner.invoke(args=["legacy", "import", "accounts", str(good)])
    assert result.exit_code == 0 and "1 legacy account(s) imported" in result.output


def activate(app, client, account="laozhanghu", password="OldPass88", phone=PHONE):
    token = csrf_token(client, "/activate/")
    response = client.post("/activate/", data={"old_account": account, "password": password, "csrf_token": token})
    if not response.headers.get("Location", "").endswith("/activate/phone"):
        return response
    token = csrf_token(client, "/activate/phone")
    client.post("/activate/code", data={"phone": phone, "csrf_token": token})
    return client.post(
        "/activate/phone", data={"phone": phone, "code": last_code(app, phone, "activate"), "csrf_token": token}
    )


@pytest.fixture
def legacy(app):
    import_legacy_accounts(
        csv_bytes(row("laozhanghu", "OldPass88", "sha256_salted", salt="xyz", name="老系统安防工程有限公司"))
    )
    return db.session.scalar(select(LegacyAccount).where(LegacyAccount.old_account == "laozhanghu"))


def test_activation_page_follows_the_manual(client):
    page = client.get("/activate/").get_data(as_text=True)
    assert "老系统账号" in page and "密码" in page and "下一步" in page


def test_activation_carries_data_and_keeps_the_old_password(app, client, auth, legacy):
    response = activate(app, client)
    assert "/login/" in response.headers["Location"]
    user = db.session.scalar(select(PlatformUser).where(PlatformUser.username == PHONE))
    assert user.phone == PHONE and user.enterprise.name == "老系统安防工程有限公司"
    assert user.enterprise.credit_code == legacy.credit_code and user.enterprise.legal_person == "赵六"
    assert user.password.startswith("scrypt:")  # re-hashed with the current scheme
    db.session.expire_all()
    assert legacy.activated_on is not None and legacy.activated_user_id == user.id
    auth.login(PHONE, "OldPass88")
    assert client.get("/portal/").status_code == 200


def test_account_activates_only_once(app, client, legacy):
    activate(app, client)
    second = app.test_client()
    response = activate(app, second, phone="13966660002")
    assert response.status_code == 302 or response.status_code == 200
    page = (
        second.get(response.headers["Location"]).get_data(as_text=True)
        if response.status_code == 302
        else response.get_data(as_text=True)
    )
    assert "已激活" in page
    assert db.session.scalar(select(func.count()).select_from(PlatformUser)) == 1


def test_wrong_old_password_is_refused(app, client, legacy):
    response = activate(app, client, password="wrong")
    assert response.status_code == 200 and "老系统账号或密码错误" in response.get_data(as_text=True)
    assert client.get("/activate/phone").headers["Location"].endswith("/activate/")


def test_wrong_old_passwords_are_rate_limited(app, client, legacy, monkeypatch):
    monkeypatch.setitem(app.config, "ACTIVATION_RATE_LIMIT", "3 per minute")
    codes = [activate(app, client, password=f"wrong{i}").status_code for i in range(4)]
    assert codes[-1] == 429


def test_taken_phone_is_refused_and_account_stays_open(app, client, legacy):
    other = make_enterprise_user()
    token = csrf_token(client, "/activate/")
    client.post("/activate/", data={"old_account": "laozhanghu", "password": "OldPass88", "csrf_token": token})
    response = client.post("/activate/code", data={"phone": other.phone, "csrf_token": token})
    assert response.status_code == 400 and "已被注册" in response.get_json()["message"]
    db.session.expire_all()
    assert legacy.activated_on is None


def test_enterprise_already_registered_blocks_activation(app, client, legacy):
    # The enterprise registered itself in the new system before activating its old account.
    enterprise = make_enterprise_user().enterprise
    legacy.credit_code = enterprise.credit_code
    db.session.commit()
    response = activate(app, client)
    assert response.status_code == 200 and "已注册" in response.get_data(as_text=True)
    db.session.expire_all()
    assert legacy.activated_on is None
    assert db.session.scalar(select(func.count()).select_from(Enterprise)) == 1


def test_chinese_plain_password_does_not_crash(app, client):
    import_legacy_accounts(csv_bytes(row("zh_pw_user", "安防密码1", "plain")))
    token = csrf_token(client, "/activate/")
    response = client.post(
        "/activate/", data={"old_account": "zh_pw_user", "password": "错误密码", "csrf_token": token}
    )
    assert response.status_code == 200 and "老系统账号或密码错误" in response.get_data(as_text=True)
    response = client.post(
        "/activate/", data={"old_account": "zh_pw_user", "password": "安防密码1", "csrf_token": token}
    )
    assert response.headers["Location"].endswith("/activate/phone")

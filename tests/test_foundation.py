"""Platform foundation: app factory, security baseline, home routing, Chinese by default."""

import re
from pathlib import Path

from app import create_app
from factories import make_enterprise_user, make_user


def test_secret_key_is_generated_once_into_instance(tmp_path, database_url, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = create_app(
        "config.Config", SECRET_KEY=None, INSTANCE_PATH=str(tmp_path), SQLALCHEMY_DATABASE_URI=database_url
    )
    key_file = tmp_path / "secret_key"
    assert key_file.exists()
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    second = create_app(
        "config.Config", SECRET_KEY=None, INSTANCE_PATH=str(tmp_path), SQLALCHEMY_DATABASE_URI=database_url
    )
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert len(first.config["SECRET_KEY"]) >= 32


def test_no_default_password_in_repository():
    root = Path(__file__).resolve().parent.parent
    for path in list(root.glob("*.py")) + list((root / "app").rglob("*.py")) + [root / "Makefile", root / "README.md"]:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        assert not re.search(r"(?i)(admin_password|default_password)\s*=", text), path


def test_security_headers_on_every_response(client):
    response = client.get("/login/")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_session_cookie_is_httponly_and_samesite(app, client, auth):
    user = make_user("Reviewer")
    response = auth.login(user.username)
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_production_config_uses_secure_cookies():
    from config import ProductionConfig

    assert ProductionConfig.SESSION_COOKIE_SECURE is True
    assert ProductionConfig.REMEMBER_COOKIE_SECURE is True


def test_post_without_csrf_token_is_refused(client):
    response = client.post("/login/", data={"username": "x", "password": "y"})
    assert response.status_code == 400


def test_logout_only_by_post(app, client, auth):
    user = make_user("Reviewer")
    auth.login(user.username)
    assert client.get("/logout/").status_code == 405
    assert client.get("/backoffice/").status_code == 200  # still signed in
    assert auth.logout().status_code == 302
    assert client.get("/backoffice/").status_code == 302  # to the login page


def test_unused_fab_routes_are_off(app):
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    for path in ("/api/v1/security/login", "/register/form", "/swagger/v1", "/api/v1/menu/", "/users/userstatschart/"):
        assert not any(rule.startswith(path) for rule in rules), path


def test_anonymous_home_goes_to_login(client):
    response = client.get("/")
    assert response.status_code == 302 and "/login/" in response.headers["Location"]


def test_enterprise_user_lands_in_portal(app, client, auth):
    user = make_enterprise_user()
    auth.login(user.username)
    response = client.get("/", follow_redirects=True)
    page = response.get_data(as_text=True)
    assert response.request.path == "/portal/"
    assert user.enterprise.name in page and "企业基本信息" in page
    assert "工作台" not in page  # no back-office menu


def test_association_user_lands_in_back_office(app, client, auth):
    user = make_user("Reviewer")
    auth.login(user.username)
    response = client.get("/", follow_redirects=True)
    page = response.get_data(as_text=True)
    assert response.request.path == "/backoffice/"
    assert "协会管理后台" in page and "企业档案" in page


def test_chinese_is_the_default_language(client):
    page = client.get("/login/").get_data(as_text=True)
    assert "登录" in page and "Sign In" not in page and "Username" not in page


def test_english_is_available(client):
    client.get("/lang/en")
    page = client.get("/login/").get_data(as_text=True)
    assert "Password" in page and "密码" not in page


def test_pages_load_assets_only_from_this_site(app, client, auth):
    user = make_user("Reviewer")
    auth.login(user.username)
    for url in ("/login/", "/backoffice/", "/backoffice/enterprises/list/"):
        page = client.get(url).get_data(as_text=True)
        sources = re.findall(r'(?:src|href)="([^"]+)"', page)
        external = [s for s in sources if re.match(r"(?i)(https?:)?//", s)]
        assert not external, (url, external)


def test_region_data_served_locally(client):
    data = client.get("/regions/").get_json()
    anhui = next(p for p in data if p["code"] == "34")
    hefei = next(c for c in anhui["cities"] if c["name"] == "合肥市")
    assert {"蜀山区", "包河区"} <= {d["name"] for d in hefei["districts"]}


def test_user_facing_errors_share_one_base_class():
    """Every error that carries a message for the user is a UserError (one handler, one shape)."""
    import ast
    from pathlib import Path

    from app.exceptions import UserError

    offenders = []
    for path in Path("app").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name != "UserError":
                for inner in ast.walk(node):
                    if (
                        isinstance(inner, ast.Attribute)
                        and isinstance(inner.value, ast.Name)
                        and inner.value.id == "self"
                        and inner.attr == "message"
                        and isinstance(inner.ctx, ast.Store)
                    ):
                        offenders.append(f"{path}:{node.name}")
    assert offenders == [], f"set `message` through UserError instead: {offenders}"
    from app.accounts import AccountError
    from app.identity import InvalidIdentity
    from app.qualification import NotEligible
    from app.sms import SmsError
    from app.sms_guard import SendRefused
    from app.staff import StaffRejected
    from app.uploads import UploadRejected
    from app.workflows import WorkflowError
    from app.xlsx import WorkbookRejected

    for error in (
        AccountError,
        InvalidIdentity,
        NotEligible,
        SmsError,
        SendRefused,
        StaffRejected,
        UploadRejected,
        WorkflowError,
        WorkbookRejected,
    ):
        assert issubclass(error, UserError) and error("x").message == "x", error

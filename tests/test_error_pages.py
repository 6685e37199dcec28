"""Error pages: 400/403/404/405/413/429/500 × anonymous/enterprise/reviewer, in Chinese, with headers.

The errors are raised where they happen in production: a bad CSRF token and a body over the size
limit before Flask-AppBuilder has loaded the user, a rate limit in the limiter's hook, a database
error after a failed flush (the session must be rolled back before the page frame queries).
"""

from __future__ import annotations

import pytest
from flask import Blueprint, abort

from app import create_app, db
from app.models import Setting
from conftest import AuthActions, IsolatedClient, app_settings, csrf_token
from factories import make_enterprise_user, make_user

EXPECTED = {
    400: "页面已过期",
    403: "您没有权限访问此页面",
    404: "页面或记录不存在",
    405: "不允许此操作",
    413: "上传的文件过大",
    429: "尝试次数过多",
    500: "系统出现错误",
}
USERS = ("anonymous", "enterprise", "reviewer")


@pytest.fixture(scope="module")
def error_app(_app, tmp_path_factory, database_url):
    """A second app on the same database, with a few probe routes and exceptions not propagated."""
    app = create_app(
        "config.Config",
        **app_settings(tmp_path_factory.mktemp("errors"), database_url, PROPAGATE_EXCEPTIONS=False),
    )
    app.test_client_class = IsolatedClient
    limiter = app.appbuilder.sm.limiter

    def forbidden():
        abort(403)

    def accept_post():
        return "posted"

    # Limits on a blueprint are checked in the limiter's before-request hook, as FAB's views are.
    limited_pages = Blueprint("probe_limited", __name__)

    @limited_pages.route("/_probe/limited")
    def limited():
        return "allowed"

    limiter.limit("1 per hour")(limited_pages)

    def database_error():
        # A duplicate key: the flush fails and leaves the session needing a rollback.
        db.session.add(Setting(key="membership.notice_seconds", value="1", description="duplicate"))
        db.session.flush()
        return "unreachable"

    app.add_url_rule("/_probe/forbidden", view_func=forbidden)
    app.add_url_rule("/_probe/post", view_func=accept_post, methods=["POST"])
    app.register_blueprint(limited_pages)
    app.add_url_rule("/_probe/database-error", view_func=database_error)
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    return app


def trigger(client, code: int):
    if code == 400:
        return client.post("/_probe/post", data={"csrf_token": "forged", "x": "1"})
    if code == 403:
        return client.get("/_probe/forbidden")
    if code == 404:
        return client.get("/no-such-page/at-all")
    if code == 405:
        return client.get("/logout/")
    if code == 413:
        token = csrf_token(client, "/login/")
        return client.post("/_probe/post", data={"csrf_token": token, "blob": "x" * 200_000})
    if code == 429:
        first = client.get("/_probe/limited")
        assert first.status_code == 200
        return client.get("/_probe/limited")
    if code == 500:
        return client.get("/_probe/database-error")
    raise AssertionError(code)


@pytest.mark.parametrize("kind", USERS)
@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_error_page_matrix(app, error_app, kind, code):
    error_app.appbuilder.sm.limiter.reset()
    client = error_app.test_client()
    name = None
    if kind != "anonymous":
        user = make_enterprise_user() if kind == "enterprise" else make_user("Reviewer")
        name = user.get_full_name()
        AuthActions(client).login(user.username)
        assert client.get("/").status_code == 302  # signed in: sent on to the portal or back office
    response = trigger(client, code)
    page = response.get_data(as_text=True)
    assert response.status_code == code, page[:500]
    assert EXPECTED[code] in page
    assert "Internal Server Error" not in page and "AttributeError" not in page
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    if name is not None:
        assert name in page  # the page frame was drawn with the signed-in user's header
    # The session still works after the error page (rolled back, not poisoned).
    assert client.get("/login/").status_code in (200, 302)


def test_plain_page_when_the_frame_cannot_be_drawn(app, error_app, monkeypatch):
    """A database that cannot even load the user still gets a Chinese page, not a bare one."""
    from flask_appbuilder.security.sqla.manager import SecurityManager

    def broken(*args, **kwargs):
        raise RuntimeError("database unreachable")

    monkeypatch.setattr(SecurityManager, "has_access", broken)
    response = error_app.test_client().get("/no-such-page")
    assert response.status_code == 404
    assert "页面或记录不存在" in response.get_data(as_text=True)
    assert response.headers["X-Content-Type-Options"] == "nosniff"

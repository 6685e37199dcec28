"""Error pages in the user's language for every kind of user: 400, 403, 404, 405, 413, 429, 500.

An error can be raised before Flask-AppBuilder has loaded the user (CSRF and rate limits run in
earlier before-request hooks, a body over the size limit is noticed while reading the form) or
after a database statement failed. The page frame reads `g.user` and queries permissions, so the
handler first rolls the session back, then loads the user itself; if the frame still cannot be
drawn, a plain page without it is answered instead of a bare English one.
"""

from __future__ import annotations

import logging

from flask import Flask, g, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


def _prepare_request_state() -> None:
    """Make the page frame drawable: a clean session and a loaded (possibly anonymous) user."""
    from flask_login import current_user

    from . import db

    try:
        db.session.rollback()
    except Exception:  # a broken connection: the frame falls back to the plain page below
        log.exception("rollback before an error page failed")
    if "user" in g:
        return
    try:
        g.user = current_user._get_current_object()
    except Exception:
        log.exception("could not load the user for an error page")
        from flask import current_app

        anonymous = current_app.login_manager.anonymous_user()
        g._login_user = anonymous
        g.user = anonymous


def register(app: Flask) -> None:
    messages = {
        400: lambda: _("The request could not be understood. Please go back and try again."),
        403: lambda: _("You do not have permission to view this page."),
        404: lambda: _("The page or record does not exist, or you may not view it."),
        405: lambda: _("This action is not allowed here."),
        413: lambda: _("The upload is too large."),
        429: lambda: _("Too many attempts. Please wait a few minutes and try again."),
    }

    def render(code: int, message: str):
        if request.endpoint and request.endpoint.endswith(".code"):
            # 获取验证码 buttons read JSON and show its message beside the button.
            return jsonify(ok=False, message=message, wait=60 if code == 429 else 0), code
        _prepare_request_state()
        try:
            page = render_template(
                "error.html",
                code=code,
                message=message,
                appbuilder=app.appbuilder,
                base_template=app.appbuilder.base_template,
            )
        except Exception:
            log.exception("the error page frame could not be rendered; answering the plain page")
            page = render_template("error_plain.html", code=code, message=message, app_name=app.config["APP_NAME"])
        return page, code

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render(400, _("The page has expired. Please reload it and try again."))

    for code, message in messages.items():
        app.register_error_handler(code, lambda error, code=code, message=message: render(code, message()))

    @app.errorhandler(HTTPException)
    def other_http_error(error: HTTPException):
        return render(error.code or 500, _("The request could not be completed."))

    @app.errorhandler(500)
    def server_error(error):
        return render(500, _("Something went wrong on our side. Please try again later."))

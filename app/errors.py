"""Error pages in the user's language: not found, forbidden, too many attempts, expired form."""

from flask import Flask, render_template
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException


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
        return (
            render_template(
                "error.html",
                code=code,
                message=message,
                appbuilder=app.appbuilder,
                base_template=app.appbuilder.base_template,
            ),
            code,
        )

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

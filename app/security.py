"""Security: our FAB security manager, POST-only logout, and security headers on every response."""

from __future__ import annotations

from flask import Flask, Response, current_app, redirect
from flask_appbuilder import expose
from flask_appbuilder.security.api import SecurityApi
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_appbuilder.security.views import AuthDBView, RoleModelView, UserDBModelView, UserGroupModelView
from flask_babel import lazy_gettext as _l
from flask_login import logout_user

from .models import PlatformUser
from .scoping import ScopedActionsMixin

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        # FAB's templates carry inline scripts and styles; everything else must come from us.
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class PlatformAuthDBView(AuthDBView):
    """Database login with a Chinese message, and logout only by POST (a GET cannot log anyone out)."""

    login_template = "security/login.html"
    invalid_login_message = _l("Wrong account or password.")
    title = _l("Sign In")

    @expose("/logout/", methods=["POST"])
    def logout(self):
        user = self._get_authenticated_user()
        logout_user()
        if user is not None:
            self.appbuilder.sm.on_user_logout(user)
        return redirect(current_app.config.get("LOGOUT_REDIRECT_URL", self.appbuilder.get_url_for_index))


class NoRoutesSecurityApi(SecurityApi):
    """FAB's JWT login API: we do not offer it (and it would bypass our login rules)."""

    include_route_methods: set[str] = set()


# FAB's `download` route serves any file in UPLOAD_FOLDER to anyone with can_download;
# our files leave only through the protected FileView, so the security views lose that route.
_FAB_ROUTES_WE_DROP = {"download"}


class PlatformUserModelView(ScopedActionsMixin, UserDBModelView):
    exclude_route_methods = UserDBModelView.exclude_route_methods | _FAB_ROUTES_WE_DROP


class PlatformRoleModelView(ScopedActionsMixin, RoleModelView):
    exclude_route_methods = RoleModelView.exclude_route_methods | _FAB_ROUTES_WE_DROP


class PlatformGroupModelView(ScopedActionsMixin, UserGroupModelView):
    exclude_route_methods = UserGroupModelView.exclude_route_methods | _FAB_ROUTES_WE_DROP


class PlatformSecurityManager(SecurityManager):
    user_model = PlatformUser
    authdbview = PlatformAuthDBView
    security_api = NoRoutesSecurityApi
    userdbmodelview = PlatformUserModelView
    rolemodelview = PlatformRoleModelView
    groupmodelview = PlatformGroupModelView
    # FAB's user statistics chart loads Google's chart loader at run time: unreachable from China.
    userstatschartview = None


def install_request_hooks(app: Flask) -> None:
    @app.after_request
    def add_security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if app.config.get("SESSION_COOKIE_SECURE"):
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

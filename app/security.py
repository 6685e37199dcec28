"""Security: our FAB security manager, POST-only logout, and security headers on every response."""

from __future__ import annotations

import time

from flask import (
    Flask,
    Response,
    current_app,
    flash,
    g,
    has_app_context,
    has_request_context,
    redirect,
    render_template,
    request,
    session,
)
from flask_appbuilder import expose
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.api import SecurityApi
from flask_appbuilder.security.decorators import no_cache
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_appbuilder.security.views import AuthDBView, RoleModelView, UserDBModelView, UserGroupModelView
from flask_appbuilder.utils.base import get_safe_redirect
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_user, logout_user
from markupsafe import Markup
from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import joinedload
from werkzeug.security import check_password_hash

from . import sessions, throttle
from .audit import AuditedModelViewMixin
from .display import ChineseRelatedLabelsMixin, pairs_label, role_label
from .lists import CsvExportMixin
from .models import PlatformUser
from .scoping import ScopedActionsMixin, is_association_user, is_enterprise_user

# Spent on a login whose account does not exist or is of the other kind, so that the answer takes
# as long as a real password check and says nothing about which accounts exist.
_DUMMY_HASH = "scrypt:32768:8:1$dummydummydummy$" + "0" * 128

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        # Scripts only from our static files, plus FAB's few inline blocks that carry this
        # response's nonce (its templates print `csp_nonce()` when it is defined). Inline styles
        # stay allowed: FAB's widgets set them and they cannot run code.
        "script-src 'self' 'nonce-{nonce}'",
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


def _next_url() -> str:
    """Where to go after signing in: a safe ?next=, else the home page. FAB's check logs "Invalid
    redirect detected" for a missing one, which every plain sign-in is: ask it only when there is one."""
    wanted = request.args.get("next", "")
    return get_safe_redirect(wanted) if wanted else current_app.appbuilder.get_url_for_index


class PlatformAuthDBView(AuthDBView):
    """F2 登录: 企业用户 or 协会用户, account + password; one message for every failure.

    Logout only by POST (a GET cannot sign anyone out).
    """

    login_template = "security/login.html"
    invalid_login_message = _l("Wrong account or password.")
    title = _l("Sign In")

    @expose("/login/", methods=["GET", "POST"])
    @no_cache
    def login(self):
        from .forms import LoginForm

        if g.user is not None and g.user.is_authenticated:
            return redirect(self._get_safe_next_url())
        form = LoginForm()
        if form.validate_on_submit():
            sm = self.appbuilder.sm
            username = form.username.data.strip()
            back = self.appbuilder.get_url_for_login_with(_next_url())
            # Failures only count: per address (a high ceiling, 429) and per account (delay, then lock).
            throttle.check_address("login")
            refused = throttle.refusal("login", username)
            if refused is not None:
                throttle.record_refused("login")
                flash(throttle.refusal_message("login", refused), "warning")
                return redirect(back)
            candidate = sm.find_user(username=username)
            wanted = is_enterprise_user if form.user_kind.data == "enterprise" else is_association_user
            user = None
            if candidate is not None and candidate.is_active and wanted(candidate):
                user = sm.auth_user_db(username, form.password.data)
            else:
                check_password_hash(_DUMMY_HASH, form.password.data)
            if user is None:
                throttle.record_failure("login", username)
                flash(str(self.invalid_login_message), "warning")
                return redirect(back)
            throttle.record_success("login", username)
            login_user(user, remember=False)
            session["sv"] = user.session_version or 0
            sessions.open_session()
            return redirect(_next_url())
        return self.render_template(self.login_template, title=self.title, form=form, appbuilder=self.appbuilder)

    @expose("/logout/", methods=["POST"])
    def logout(self):
        user = self._get_authenticated_user()
        sessions.close_session()
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


class PlatformUserModelView(
    CsvExportMixin, ChineseRelatedLabelsMixin, AuditedModelViewMixin, ScopedActionsMixin, UserDBModelView
):
    exclude_route_methods = UserDBModelView.exclude_route_methods | _FAB_ROUTES_WE_DROP
    csv_columns = ["first_name", "last_name", "username", "email", "phone", "roles", "active", "last_login", "created_on"]
    csv_exprs = {"roles": lambda: _role_names()}
    csv_formatters = {"roles": lambda names: "、".join(role_label(name) for name in sorted((names or "").split(",")) if name)}
    label_columns = {**UserDBModelView.label_columns, "phone": _l("Mobile phone")}
    audit_exclude = ("password",)
    # FAB's help for these fields speaks of LDAP and OpenID sign-in, which we do not offer.
    description_columns = {
        **UserDBModelView.description_columns,
        "username": _l("The name the user signs in with (an enterprise signs in with its mobile number)"),
        "email": _l("The user's e-mail address"),
    }


def _role_names():
    from .lists import text_list

    sm = current_app.appbuilder.sm
    links = sm.user_model.roles.property.secondary
    return text_list(
        sm.role_model.name,
        sm.user_model,
        (links.c.user_id == sm.user_model.id) & (links.c.role_id == sm.role_model.id),
    )


class RoleListInterface(SQLAInterface):
    """The role list's data: a role's permissions come as (permission, view) names from one query for
    the whole page, not as a few hundred ORM objects per role (the list only shows their labels)."""

    def get_values(self, lst, list_columns):
        if "permissions" not in list_columns:
            yield from super().get_values(lst, list_columns)
            return
        from flask_appbuilder.security.sqla.models import (
            Permission,
            PermissionView,
            ViewMenu,
            assoc_permissionview_role,
        )

        links = assoc_permissionview_role.c
        pairs: dict[int, list[tuple[str, str]]] = {item.id: [] for item in lst}
        rows = self.session.execute(
            select(links.role_id, Permission.name, ViewMenu.name)
            .join(PermissionView, PermissionView.id == links.permission_view_id)
            .join(Permission, Permission.id == PermissionView.permission_id)
            .join(ViewMenu, ViewMenu.id == PermissionView.view_menu_id)
            .where(links.role_id.in_(list(pairs)))
            .order_by(links.role_id, PermissionView.id)
        ).all()
        for role_id, permission, view in rows:
            pairs[role_id].append((permission, view))
        for item in lst:
            values = {col: self._get_attr_value(item, col) for col in list_columns if col != "permissions"}
            values["permissions"] = pairs_label(pairs[item.id])
            yield values


class PlatformRoleModelView(ChineseRelatedLabelsMixin, AuditedModelViewMixin, ScopedActionsMixin, RoleModelView):
    exclude_route_methods = RoleModelView.exclude_route_methods | _FAB_ROUTES_WE_DROP
    formatters_columns = {"name": role_label}
    # FAB's search form would load every permission into a dropdown per filter on each list page.
    search_columns = ["name"]


class PlatformGroupModelView(ChineseRelatedLabelsMixin, AuditedModelViewMixin, ScopedActionsMixin, UserGroupModelView):
    exclude_route_methods = UserGroupModelView.exclude_route_methods | _FAB_ROUTES_WE_DROP
    # FAB's own labels for groups have no Chinese in its catalogue.
    label_columns = {
        "name": _l("Name"),
        "label": _l("Label"),
        "description": _l("Description"),
        "users": _l("Users"),
        "roles": _l("Roles"),
    }


class PlatformSecurityManager(SecurityManager):
    user_model = PlatformUser
    authdbview = PlatformAuthDBView
    security_api = NoRoutesSecurityApi
    userdbmodelview = PlatformUserModelView
    rolemodelview = PlatformRoleModelView
    groupmodelview = PlatformGroupModelView

    def __init__(self, appbuilder):
        super().__init__(appbuilder)
        from .lists import EagerInterface

        # The user and group lists show each row's roles (and a group's users): load them per page; the role
        # list reads its roles' permissions as names for the whole page (RoleListInterface).
        self.userdbmodelview.datamodel = EagerInterface(self.user_model, eager=("roles", "groups"))
        self.groupmodelview.datamodel = EagerInterface(self.group_model, eager=("roles", "users"))
        self.rolemodelview.datamodel = RoleListInterface(self.role_model)

    def reset_password(self, userid, password):
        """FAB's password reset screens (Admin): also sign out the user's other sessions, and audit."""
        from . import audit
        from .accounts import set_password

        user = self.get_user_by_id(userid)
        audit.record("reset_password", "PlatformUser", user.id)
        own = g.user is not None and getattr(g.user, "id", None) == user.id
        set_password(user, password, keep_current_session=own)

    def get_user_by_id(self, pk):
        """The user with its roles and its groups' roles in one query (FAB loads each lazily: three)."""
        from flask_appbuilder.security.sqla.models import Group

        return (
            self.session.scalars(
                select(self.user_model)
                .where(self.user_model.id == pk)
                .options(joinedload(self.user_model.roles), joinedload(self.user_model.groups).joinedload(Group.roles))
            )
            .unique()
            .first()
        )

    def exist_permission_on_roles(self, view_name: str, permission_name: str, role_ids: list[int]) -> bool:
        """FAB asks once per check (every menu item, every button): answered from the roles' permission
        set, cached per set of roles until a role's permissions change (see `permissions_version`)."""
        if not has_request_context():
            return super().exist_permission_on_roles(view_name, permission_name, role_ids)
        return (permission_name, view_name) in self.permissions_of(role_ids)

    def permissions_of(self, role_ids) -> frozenset[tuple[str, str]]:
        """The (permission, view) pairs of a set of roles, once per request."""
        memo = g.setdefault("_role_permissions", {})
        key = tuple(sorted(role_ids))
        if key not in memo:
            memo[key] = self._role_permissions(key)
        return memo[key]

    def _role_permissions(self, role_ids: tuple[int, ...]) -> frozenset[tuple[str, str]]:
        version = permissions_version()
        cached = _PERMISSION_CACHE.get(role_ids)
        if cached is not None and cached[0] == version and cached[1] > time.monotonic():
            return cached[2]
        from flask_appbuilder.security.sqla.models import (
            Permission,
            PermissionView,
            ViewMenu,
            assoc_permissionview_role,
        )

        rows = self.session.execute(
            select(Permission.name, ViewMenu.name)
            .select_from(PermissionView)
            .join(Permission, PermissionView.permission_id == Permission.id)
            .join(ViewMenu, PermissionView.view_menu_id == ViewMenu.id)
            .join(assoc_permissionview_role, assoc_permissionview_role.c.permission_view_id == PermissionView.id)
            .where(assoc_permissionview_role.c.role_id.in_(role_ids))
        ).all()
        permissions = frozenset((permission, view) for permission, view in rows)
        _PERMISSION_CACHE[role_ids] = (version, time.monotonic() + PERMISSION_CACHE_SECONDS, permissions)
        return permissions

    # FAB's user statistics chart loads Google's chart loader at run time: unreachable from China.
    userstatschartview = None


# Permissions of a set of roles, per worker: (version, expires at, permissions). The version lives in
# the shared limit storage (Redis in production), so a role edited through one worker is seen by all;
# the expiry is the safety net for permissions changed where no version is bumped (raw SQL).
_PERMISSION_CACHE: dict[tuple[int, ...], tuple[int, float, frozenset[tuple[str, str]]]] = {}
PERMISSION_CACHE_SECONDS = 300
_VERSION_LIFETIME = 366 * 24 * 3600
_PERMISSION_MODELS = ("Role", "PermissionView", "Permission", "ViewMenu")


def _version_key() -> str:
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX", "") or ""
    return f"{prefix}:permissions-version"


def permissions_version() -> int:
    return int(current_app.appbuilder.sm.limiter.storage.get(_version_key()) or 0)


def bump_permissions_version() -> None:
    """Every worker reloads the roles' permissions on its next request."""
    current_app.appbuilder.sm.limiter.storage.incr(_version_key(), _VERSION_LIFETIME)
    _PERMISSION_CACHE.clear()


def _note_permission_changes(session, flush_context) -> None:
    changed = (*session.new, *session.dirty, *session.deleted)
    if any(type(obj).__name__ in _PERMISSION_MODELS for obj in changed):
        session.info["permissions_changed"] = True


def _bump_after_commit(session) -> None:
    if session.info.pop("permissions_changed", False) and has_app_context():
        bump_permissions_version()


def _forget_after_rollback(session) -> None:
    session.info.pop("permissions_changed", None)


def watch_permission_changes() -> None:
    """Roles' permissions changed in any session (the roles screens, `flask roles sync`) bump the version."""
    if not sa_event.contains(OrmSession, "after_flush", _note_permission_changes):
        sa_event.listen(OrmSession, "after_flush", _note_permission_changes)
        sa_event.listen(OrmSession, "after_commit", _bump_after_commit)
        sa_event.listen(OrmSession, "after_soft_rollback", lambda session, previous: _forget_after_rollback(session))


def csp_nonce() -> str:
    """This response's script nonce, made on first use (templates and the CSP header share it)."""
    import secrets

    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(18)
    return g.csp_nonce


def navbar_menu() -> Markup:
    """The navigation menu's HTML. It depends only on which menu items the user's roles may open (and the
    language and the address prefix), so a signed-in user's menu is rendered once per set of permissions
    and language and kept per worker: a role whose permissions change has a new set, hence a new menu.
    FAB asks for the permission of every item and reads `current_user` a few hundred times per render
    otherwise."""
    from flask_babel import get_locale
    from flask_login import current_user

    sm = current_app.appbuilder.sm
    user = getattr(g, "user", None)
    roles = sm.get_user_roles(user) if user is not None and current_user.is_authenticated else []
    if not roles or not user.is_active or any(role.name in sm.builtin_roles for role in roles):
        return Markup(render_template("appbuilder/_navbar_menu_items.html", menu=current_app.appbuilder.menu))
    names = tuple(sorted({role.name for role in roles}))
    key = (str(get_locale()), request.script_root, names, sm.permissions_of([role.id for role in roles]))
    menus = current_app.extensions.setdefault("navbar_menus", {})
    html = menus.get(key)
    if html is None:
        if len(menus) > 256:  # former permission sets and rare role sets: start again
            menus.clear()
        html = menus[key] = Markup(
            render_template("appbuilder/_navbar_menu_items.html", menu=current_app.appbuilder.menu)
        )
    return html


def install_request_hooks(app: Flask) -> None:
    watch_permission_changes()

    @app.before_request
    def request_id():
        import uuid

        g.request_id = request.headers.get("X-Request-Id", "")[:36] or str(uuid.uuid4())

    @app.before_request
    def sign_out_stale_sessions():
        """A password change moves the user's session_version on: older sessions end here."""
        user = getattr(g, "user", None)
        if user is None or not getattr(user, "is_authenticated", False):
            return None
        if session.get("sv", 0) != (getattr(user, "session_version", 0) or 0):
            logout_user()
            session.clear()
            flash(_("Your password was changed; please sign in again."), "warning")
            return redirect(app.appbuilder.get_url_for_login)
        if not sessions.is_open():
            # Signed out on the server (退出登录 elsewhere with a copy of this cookie, or expired).
            logout_user()
            session.clear()
            flash(_("Your session has ended; please sign in again."), "warning")
            return redirect(app.appbuilder.get_url_for_login)
        return None

    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.jinja_env.globals["navbar_menu"] = navbar_menu

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY.format(nonce=csp_nonce()))
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if app.config.get("SESSION_COOKIE_SECURE"):
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

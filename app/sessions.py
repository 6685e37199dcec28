"""Signed-in sessions recorded on the server: sign-out ends the session, not only the cookie.

The session cookie is signed but self-contained, so a copy taken before 退出登录 would keep working
until it expires. Each sign-in therefore gets a random id, kept in the shared limit storage (Redis in
production) for the session's lifetime; sign-out removes it, and a request whose id is no longer
known is signed out.
"""

from __future__ import annotations

import secrets

from flask import current_app, session
from limits.storage import Storage

SESSION_KEY = "sid"


def _storage() -> Storage:
    return current_app.appbuilder.sm.limiter.storage


def _key(sid: str) -> str:
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX", "") or ""
    return f"{prefix}:session:{sid}"


def open_session() -> None:
    """Called right after login_user: a new id in the cookie and on the server."""
    sid = secrets.token_urlsafe(24)
    _storage().incr(_key(sid), int(current_app.permanent_session_lifetime.total_seconds()))
    session[SESSION_KEY] = sid


def is_open() -> bool:
    sid = session.get(SESSION_KEY)
    return bool(sid) and bool(_storage().get(_key(str(sid))))


def close_session() -> None:
    sid = session.pop(SESSION_KEY, None)
    if sid:
        _storage().clear(_key(str(sid)))

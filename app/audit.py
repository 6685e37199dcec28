"""Audit trail: who did what to which record, with before/after values, from which address."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from typing import Any

from flask import g, has_request_context, request
from flask_babel import lazy_gettext as _l

from . import db
from .models import AuditLog
from .scoping import current_user_or_none

ACTION_LABELS = {
    "create": _l("Created"),
    "update": _l("Changed"),
    "delete": _l("Deleted"),
    "archive": _l("Archived"),
    "restore": _l("Restored"),
    "certificate": _l("Certificate added"),
    "transition": _l("Status change"),
    "signup": _l("Sign-up"),
    "confirm": _l("Enrolment confirmed"),
    "pass": _l("Passed"),
    "fail": _l("Failed"),
    "reset_password": _l("Password reset"),
}


def action_label(action: str) -> str:
    return str(ACTION_LABELS.get(action, action))


def _plain(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def snapshot(obj: Any, fields: list[str] | None = None) -> dict[str, Any]:
    """Column values of a model instance, JSON-ready."""
    columns = fields or [column.key for column in obj.__mapper__.column_attrs]
    return {name: _plain(getattr(obj, name, None)) for name in columns}


def snapshot_before_change(obj: Any) -> dict[str, Any]:
    from sqlalchemy import inspect

    state = inspect(obj)
    values = {}
    for attr in obj.__mapper__.column_attrs:
        history = state.attrs[attr.key].history
        old = history.deleted[0] if history.deleted else getattr(obj, attr.key, None)
        values[attr.key] = _plain(old)
    return values


def client_ip() -> str | None:
    return request.remote_addr if has_request_context() else None


def actor_name(user: Any) -> str:
    if user is None:
        return "system"
    return user.get_full_name() if hasattr(user, "get_full_name") else str(user)


def record(
    action: str,
    object_type: str,
    object_id: Any = None,
    *,
    before: dict | None = None,
    after: dict | None = None,
    comment: str | None = None,
    actor: Any = None,
) -> AuditLog:
    """Add an audit row to the current transaction (the caller commits with its own change)."""
    actor = actor if actor is not None else current_user_or_none()
    entry = AuditLog(
        actor_id=getattr(actor, "id", None),
        actor_name=actor_name(actor),
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        before=json.dumps(before, ensure_ascii=False, default=str) if before is not None else None,
        after=json.dumps(after, ensure_ascii=False, default=str) if after is not None else None,
        comment=comment,
        ip=client_ip(),
        request_id=getattr(g, "request_id", None) if has_request_context() else None,
    )
    db.session.add(entry)
    return entry


class AuditedModelViewMixin:
    """For back-office ModelViews: every add, edit and delete leaves an audit row.

    Edits and deletes are recorded in pre_update/pre_delete, so the row is committed together with
    the change by FAB's own commit (one transaction: no change without its audit row).
    """

    audit_exclude: tuple[str, ...] = ()  # columns never written to the log (password hashes)

    def _audit_values(self, values: dict | None) -> dict | None:
        if values is None:
            return None
        return {k: v for k, v in values.items() if k not in self.audit_exclude}

    def pre_update(self, item):
        super().pre_update(item)
        # FAB has already copied the form onto the item: the old values are in the attribute history.
        record(
            "update",
            type(item).__name__,
            _pk(item),
            before=self._audit_values(snapshot_before_change(item)),
            after=self._audit_values(snapshot(item)),
        )

    def post_add(self, item):
        # A new row has its primary key only after FAB's commit.
        record("create", type(item).__name__, _pk(item), after=self._audit_values(snapshot(item)))
        db.session.commit()
        super().post_add(item)

    def pre_delete(self, item):
        super().pre_delete(item)
        record("delete", type(item).__name__, _pk(item), before=self._audit_values(snapshot(item)))


def _pk(item: Any) -> Any:
    identity = item.__mapper__.primary_key_from_instance(item)
    return identity[0] if len(identity) == 1 else "/".join(str(part) for part in identity)

"""Tenant scoping: the one place that decides which rows an enterprise user may see or touch."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import abort, g
from sqlalchemy import Select, false, select

from . import db

ENTERPRISE_ROLES = frozenset({"Enterprise", "OutOfProvinceEnterprise"})
ASSOCIATION_ROLES = frozenset({"Admin", "AssociationAdmin", "Reviewer"})

ModelT = TypeVar("ModelT")


def current_user_or_none() -> Any:
    user = getattr(g, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user


def role_names(user: Any) -> set[str]:
    return {role.name for role in getattr(user, "roles", None) or []}


def is_enterprise_user(user: Any) -> bool:
    return bool(role_names(user) & ENTERPRISE_ROLES)


def is_association_user(user: Any) -> bool:
    # An account holding an enterprise role is always treated as that enterprise, never as staff.
    names = role_names(user)
    return bool(names & ASSOCIATION_ROLES) and not names & ENTERPRISE_ROLES


def owner_column(model: type) -> Any:
    """The column holding the owning enterprise's id (the primary key for Enterprise itself)."""
    return getattr(model, getattr(model, "__scope_column__", "enterprise_id"))


def scoped(statement: Select, model: type, user: Any = None) -> Select:
    """Restrict a select over `model` to the rows `user` (default: the current user) may read.

    Association staff read every enterprise's rows; an enterprise user reads only its own; anybody
    else reads nothing.
    """
    user = user if user is not None else current_user_or_none()
    if user is None:
        return statement.where(false())
    if is_association_user(user):
        return statement
    enterprise_id = getattr(user, "enterprise_id", None)
    if is_enterprise_user(user) and enterprise_id is not None:
        return statement.where(owner_column(model) == enterprise_id)
    return statement.where(false())


def get_scoped_or_404(model: type[ModelT], pk: Any, user: Any = None) -> ModelT:
    """Fetch one row by primary key through the scope; another tenant's row is simply not found."""
    statement = scoped(select(model).where(model.id == pk), model, user)  # type: ignore[attr-defined]
    row = db.session.execute(statement).scalar_one_or_none()
    if row is None:
        abort(404)
    return row


class ScopedActionsMixin:
    """For FAB ModelViews: `action` and `action_post` fetch rows by primary key alone (no
    base_filters) and crash on an unknown action name. Here both refuse unknown actions with 404,
    and fetch every row through the view's base filters and the tenant scope.
    """

    def _fetch_for_action(self, pk: Any) -> Any:
        model = self.datamodel.obj
        pk = self._deserialize_pk_if_composite(pk)
        if hasattr(model, getattr(model, "__scope_column__", "enterprise_id")):
            return get_scoped_or_404(model, pk)
        row = self.datamodel.get(pk, self._base_filters)
        if row is None:
            abort(404)
        return row

    def _known_action(self, name: str | None) -> Any:
        action = self.actions.get(name) if name else None
        if action is None:
            abort(404)
        return action

    def action(self, name, pk):  # type: ignore[override]
        self._known_action(name)
        if not self.is_get_mutation_allowed():
            abort(405)
        if not self.appbuilder.sm.has_access(self.get_action_permission_name(name), self.class_permission_name):
            abort(403)
        return self.actions[name].func(self._fetch_for_action(pk))

    def action_post(self):  # type: ignore[override]
        from flask import request

        name = request.form.get("action")
        self._known_action(name)
        if not self.appbuilder.sm.has_access(self.get_action_permission_name(name), self.class_permission_name):
            abort(403)
        items = [self._fetch_for_action(pk) for pk in request.form.getlist("rowid")]
        return self.actions[name].func(items)

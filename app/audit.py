"""Audit trail: who did what to which record, with before/after values, from which address."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from typing import Any

from flask import g, has_request_context, request
from flask_babel import lazy_gettext as _l

from . import db
from .lists import ReturnToListMixin
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
    "add_staff": _l("Staff added"),
    "remove_staff": _l("Staff removed"),
    "staff_proof": _l("Staff documents uploaded"),
    "add_project": _l("Project added"),
    "remove_project": _l("Project removed"),
    "file": _l("Material uploaded"),
    "export": _l("Export CSV"),
    "import": _l("Imported from the old system"),
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


class AuditedModelViewMixin(ReturnToListMixin):
    """For back-office ModelViews: every add, edit and delete leaves an audit row (and, like every
    back-office form, 保存 returns to the list).

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


# --- Reading the trail: object names, field names and values as the association reads them -------

OBJECT_LABELS = {
    "Application": _l("Application"),
    "MembershipApplication": _l("Membership application"),
    "NewQualification": _l("Qualification application"),
    "AnnualReview": _l("Qualification annual review"),
    "Upgrade": _l("Qualification upgrade"),
    "Downgrade": _l("Qualification downgrade"),
    "Renewal": _l("Certificate renewal"),
    "ChangeRequest": _l("Information change"),
    "ReplacementRequest": _l("Certificate replacement"),
    "FilingApplication": _l("Out-of-province filing"),
    "Enrollment": _l("Enrolment"),
    "TechnicalStaff": _l("Technical staff"),
    "TrainingBatch": _l("Training batch"),
    "Certificate": _l("Certificate"),
    "Enterprise": _l("Enterprise"),
    "PlatformUser": _l("User"),
    "Role": _l("Role"),
    "Group": _l("User group"),
    "Setting": _l("System parameter"),
    "MemberTier": _l("Member tier"),
    "QualificationLevel": _l("Qualification level"),
    "StaffingRule": _l("Staffing rule"),
    "MaterialRequirement": _l("Review material"),
    "Payment": _l("Payment"),
    "CsvExport": _l("List"),
    "Membership": _l("Membership"),
}

# Field names across the audited records (a field only one view labels is found on that view).
FIELD_LABELS = {
    "status": _l("Status"),
    "transition": _l("Action"),
    "archived": _l("Archived"),
    "kind": _l("Kind"),
    "number": _l("Number"),
    "level_id": _l("Qualification level"),
    "level": _l("Qualification level"),
    "staff": _l("Technical staff"),
    "project": _l("Project"),
    "photo_file_id": _l("Photo"),
    "file_id": _l("File"),
    "certificate_number": _l("Certificate number"),
    "enterprise_id": _l("Enterprise"),
    "tier_id": _l("Member tier"),
    "key": _l("Parameter"),
    "value": _l("Value"),
    "description": _l("Description"),
    "first_name": _l("First name"),
    "last_name": _l("Last name"),
    "username": _l("User name"),
    "email": _l("E-mail"),
    "active": _l("Active"),
    "phone": _l("Mobile phone"),
    "legal_person": _l("Legal representative"),
    "registered_capital": _l("Registered capital (10,000 yuan)"),
    "employees": _l("Employees"),
    "technical_staff": _l("Technical staff"),
    "main_business": _l("Main business"),
    "contact_person": _l("Contact person"),
    "contact_phone": _l("Contact phone"),
    "notice_read_on": _l("Notice read at"),
    "comment": _l("Comment"),
    "reason": _l("Reason"),
    "file": _l("File"),
    "name": _l("Name"),
    "client": _l("Client"),
    "contract_value": _l("Contract value"),
    "accepted_on": _l("Acceptance date"),
    "list": _l("List"),
    "filters": _l("Filters"),
    "rows": _l("Rows"),
    # written by the switch-over import (app/legacy.py)
    "issued_on": _l("Issued on"),
    "valid_from": _l("Valid from"),
    "valid_until": _l("Valid until"),
    "annual_reviews": _l("Annual review record"),
    "copies": _l("Copies"),
    "fee_paid": _l("Fee (yuan)"),
    "tier": _l("Member tier"),
    "member_number": _l("Member number"),
    "certificate": _l("Professional certificate"),
}
EMPTY = "—"


def object_label(object_type: str) -> str:
    return str(OBJECT_LABELS.get(object_type, object_type))


def field_label(object_type: str, name: str) -> str:
    from .staff import FIELDS

    staff_labels = {key: label for key, label, _required in FIELDS}
    if object_type == "TechnicalStaff" and name in staff_labels:
        return str(staff_labels[name])
    if name in FIELD_LABELS:
        return str(FIELD_LABELS[name])
    if name in staff_labels:
        return str(staff_labels[name])
    declared = _view_labels().get(object_type, {})
    return str(declared.get(name, name))


def _view_labels() -> dict[str, dict]:
    """Labels the back-office views declare for their models' columns, by model name."""
    from flask import current_app

    labels: dict[str, dict] = {}
    for view in current_app.appbuilder.baseviews:
        datamodel = getattr(view, "datamodel", None)
        declared = next((vars(cls)["label_columns"] for cls in type(view).__mro__ if "label_columns" in vars(cls)), {})
        if datamodel is not None and declared:
            labels.setdefault(datamodel.obj.__name__, {}).update(declared)
    return labels


def value_label(object_type: str, name: str, value: Any) -> str:
    """A stored value in words: codes (gender, statuses, actions) as their labels."""
    from flask_babel import gettext

    if value is None or value == "" or value == []:
        return EMPTY
    if isinstance(value, bool):
        return gettext("Yes") if value else gettext("No")
    if isinstance(value, list):
        return "、".join(value_label(object_type, name, item) for item in value)
    if name == "gender":
        from .staff import GENDERS

        return str(GENDERS.get(value, value))
    if name == "status":
        return _status_label(object_type, str(value))
    if name == "transition":
        return _transition_label(object_type, str(value))
    if name == "filters" and isinstance(value, str) and value.startswith("{"):
        try:  # an export recorded before its filters were kept as words: still no raw JSON on the page
            value = json.loads(value)
        except ValueError:
            pass
    if isinstance(value, dict):
        return "；".join(f"{field_label(object_type, k)}：{value_label(object_type, k, v)}" for k, v in value.items())
    return str(value)


def _workflow_for(object_type: str):
    from .workflows import REGISTRY

    return next((w for w in REGISTRY.values() if w.model.__name__ == object_type), None)


def _status_label(object_type: str, code: str) -> str:
    from .training import BATCH_STATES, ENROLLMENT_STATES

    if object_type in ("Certificate", "Membership"):
        from .certificates import STATUSES

        if code in STATUSES:
            return str(STATUSES[code])
    if object_type == "Enrollment" and code in ENROLLMENT_STATES:
        return str(ENROLLMENT_STATES[code])
    if object_type == "TrainingBatch" and code in BATCH_STATES:
        return str(BATCH_STATES[code])
    from .workflows import state_label

    workflow = _workflow_for(object_type)
    return state_label(code, workflow.kind if workflow else None)


def _transition_label(object_type: str, name: str) -> str:
    workflow = _workflow_for(object_type)
    transition = workflow.by_name.get(name) if workflow else None
    return str(transition.label) if transition else action_label(name)


def _loads(text: str | None) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {"value": text}
    return value if isinstance(value, dict) else {"value": value}


def changes(entry: AuditLog) -> list[tuple[str, str, str]]:
    """(field, old, new) for every field the entry records, changed fields only when both sides
    are known; a creation lists its values, a deletion what was removed."""
    before, after = _loads(entry.before), _loads(entry.after)
    rows = []
    for name in list(before) + [k for k in after if k not in before]:
        old, new = before.get(name), after.get(name)
        if name in before and name in after and old == new:
            continue
        rows.append(
            (
                field_label(entry.object_type, name),
                value_label(entry.object_type, name, old) if name in before else "",
                value_label(entry.object_type, name, new) if name in after else "",
            )
        )
    return rows


def actor_label(name: str | None) -> str:
    """The stored actor name; rows written without a signed-in user read as the platform itself."""
    from flask_babel import gettext

    return gettext("Platform") if name in (None, "", "system") else str(name)

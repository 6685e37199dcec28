"""信息变更 workflow (manual 十、信息变更): the enterprise asks for profile changes with proofs; on 通过 the
profile changes in the transition's transaction and every changed field is kept in its history."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from .. import audit, certificates, db
from ..models import PROFILE_FIELDS, Certificate, ChangeRequest, Enterprise, ProfileChange, utcnow
from ..settings import get_setting
from . import Workflow, one_open_per, owner_transitions, register, review_transitions

KIND = "change"
# A change of these fields makes printed certificates out of date (they show name and address).
REISSUE_FIELDS = ("name", "address")

FIELD_LABELS = {
    "name": _l("Enterprise name"),
    "legal_person": _l("Legal representative"),
    "registered_capital": _l("Registered capital (10k CNY)"),
    "address": _l("Address"),
    "contact_person": _l("Contact person"),
    "mobile": _l("Contact mobile"),
    "landline": _l("Enterprise landline"),
    "email": _l("E-mail"),
    "business_scope": _l("Business scope"),
}


def as_text(value: Any) -> str:
    """A field's value as compared and kept in the history ('' for empty; capital without trailing zeros)."""
    if value is None:
        return ""
    if isinstance(value, float | Decimal | int):
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            return str(value)
        return format(number.quantize(Decimal("0.01")).normalize(), "f")
    return str(value).strip()


def changed_fields(record: ChangeRequest, enterprise: Enterprise | None = None) -> list[str]:
    """The profile fields the request changes, compared with the profile as it is now."""
    enterprise = enterprise or db.session.get(Enterprise, record.enterprise_id)
    return [f for f in PROFILE_FIELDS if as_text(getattr(record, f)) != as_text(getattr(enterprise, f))]


def proof_requirements() -> list[tuple[str, tuple[str, ...]]]:
    """(proof name, fields needing it) from the setting `change.proof_requirements`."""
    result = []
    for line in get_setting("change.proof_requirements").splitlines():
        name, sep, fields = line.replace("：", ":").partition(":")
        if not sep or not name.strip():
            continue
        wanted = tuple(f.strip() for f in fields.replace("，", ",").split(",") if f.strip() in PROFILE_FIELDS)
        if wanted:
            result.append((name.strip()[:60], wanted))
    return result


def proofs_needed(fields: list[str]) -> list[str]:
    """The proofs the association requires for these changed fields."""
    return [name for name, wanted in proof_requirements() if set(wanted) & set(fields)]


def missing_proofs(record: ChangeRequest) -> list[str]:
    uploaded = {f.requirement for f in record.files}
    return [name for name in proofs_needed(changed_fields(record)) if name not in uploaded]


def something_changes(record: ChangeRequest, actor: Any) -> str | None:
    if not changed_fields(record):
        return _("Nothing has been changed: change at least one item of the profile")
    return None


def proofs_attached(record: ChangeRequest, actor: Any) -> str | None:
    missing = missing_proofs(record)
    if missing:
        return _("Please upload: %(names)s", names="、".join(missing))
    return None


no_other_open_change = one_open_per(KIND, _l("Your enterprise already has an information change in progress"))


def apply_change(record: ChangeRequest, actor: Any, context: Any) -> None:
    """通过: write the requested values to the profile and keep old → new of each changed field."""
    enterprise = db.session.get(Enterprise, record.enterprise_id)
    fields = changed_fields(record, enterprise)
    before = {f: as_text(getattr(enterprise, f)) for f in fields}
    now = utcnow()
    name = audit.actor_name(actor)
    for field in fields:
        db.session.add(
            ProfileChange(
                enterprise_id=enterprise.id,
                application_id=record.id,
                field=field,
                old_value=before[field] or None,
                new_value=as_text(getattr(record, field)) or None,
                changed_on=now,
                approved_by_id=actor.id,
                approved_by_name=name,
            )
        )
        setattr(enterprise, field, getattr(record, field))
    audit.record(
        "update",
        "Enterprise",
        enterprise.id,
        before=before,
        after={f: as_text(getattr(record, f)) for f in fields},
        comment=_("Information change No. %(id)s", id=record.id),
        actor=actor,
    )
    reissue = [f for f in fields if f in REISSUE_FIELDS]
    if reissue:
        note = _(
            "%(fields)s changed by information change No. %(id)s: apply for a reissue under 证书补办",
            fields="、".join(str(FIELD_LABELS[f]) for f in reissue),
            id=record.id,
        )
        for certificate in certificates_to_reissue(enterprise.id):
            certificates.record_event(certificate, "reissue_needed", note, actor)


def certificates_to_reissue(enterprise_id: int) -> list[Certificate]:
    """The enterprise's certificates in force (the ones whose paper shows its name and address)."""
    return list(
        db.session.scalars(
            select(Certificate)
            .where(Certificate.enterprise_id == enterprise_id, Certificate.status == "valid")
            .order_by(Certificate.id)
        )
    )


def history(enterprise_id: int) -> list[ProfileChange]:
    """The enterprise's approved profile changes, newest first."""
    return list(
        db.session.scalars(
            select(ProfileChange)
            .where(ProfileChange.enterprise_id == enterprise_id)
            .order_by(ProfileChange.changed_on.desc(), ProfileChange.id)
        )
    )


def fields_context(record: ChangeRequest) -> dict[str, Any]:
    """What the fields template shows: the request against the profile (or what was applied) and the history."""
    rows = history(record.enterprise_id)
    applied = {row.field: row for row in rows if row.application_id == record.id}
    enterprise = db.session.get(Enterprise, record.enterprise_id)
    if record.status == "approved":
        changes = [(f, applied[f].old_value or "", applied[f].new_value or "") for f in PROFILE_FIELDS if f in applied]
    else:
        changes = [(f, as_text(getattr(enterprise, f)), as_text(getattr(record, f))) for f in changed_fields(record)]
    return {
        "changes": changes,
        "field_labels": FIELD_LABELS,
        "profile_history": rows,
        "proofs_needed": proofs_needed([f for f, _old, _new in changes]),
        "as_text": as_text,
    }


WORKFLOW = register(
    Workflow(
        kind=KIND,
        label=_l("Information change"),
        model=ChangeRequest,
        permission_view="ChangeReview",
        editable_states=("draft", "submitted", "returned"),
        final_states=("approved", "refused", "withdrawn"),
        fields_template="change/_fields.html",
        portal_endpoint="ChangeRequestView.detail",
        menu_icon="fa-pencil-square-o",
        queue_label=_l("Information changes"),
        context=fields_context,
        transitions=(
            *owner_transitions(
                submit_guards=(no_other_open_change, something_changes, proofs_attached),
                resubmit_guards=(no_other_open_change, something_changes, proofs_attached),
                resubmit_bare=True,
            ),
            *review_transitions(
                approved_notice=_l(
                    "approved, the profile has been updated; a certificate showing the old name or address "
                    "can be reissued through 证书补办"
                ),
                approve_effects=(apply_change,),
                approve_guards=(something_changes,),
            ),
        ),
    )
)

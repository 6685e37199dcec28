"""证书补办 workflow (manual 十一、证书补办): 挂失申请 for one copy of a certificate; on 通过 the copy is
reissued (its count bumped, the old copy void, both in the certificate's history) and the enterprise
chooses 证书发放方式, paying first when the setting `replacement.fee` is above 0."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from .. import certificates, db
from ..models import Application, Certificate, Enterprise, ReplacementRequest
from ..settings import get_setting
from . import State, Transition, Workflow, owner_transitions, payments, register, review_transitions

KIND = "replacement"
COPIES = {"original": _l("Original"), "duplicate": _l("Duplicate")}
REASONS = {"lost": _l("Lost"), "damaged": _l("Damaged"), "changed": _l("Information changed")}
# Certificates an enterprise holds as its own (training certificates belong to its staff).
REPLACEABLE_KINDS = ("qualification", "membership", "filing")


def fee() -> Decimal:
    """The fee of a reissue (`replacement.fee`, yuan); 0 or unreadable means free."""
    try:
        value = Decimal((get_setting("replacement.fee") or "0").strip())
    except InvalidOperation:
        return Decimal(0)
    return value if value > 0 else Decimal(0)


def copies_held(certificate: Certificate, copy: str) -> int:
    return certificate.copies_original if copy == "original" else certificate.copies_duplicate


def certificate_replaceable(record: ReplacementRequest, actor: Any) -> str | None:
    certificate = db.session.get(Certificate, record.certificate_id)
    if (
        certificate is None
        or certificate.enterprise_id != record.enterprise_id
        or certificate.kind not in REPLACEABLE_KINDS
    ):
        return _("Please choose one of your enterprise's certificates")
    if certificate.status != "valid":
        return _("Only a certificate in force can be reissued")
    if copies_held(certificate, record.copy) < 1:
        return _("This certificate has no such copy")
    return None


def one_open_per_copy(record: ReplacementRequest, actor: Any) -> str | None:
    others = db.session.scalar(
        select(func.count())
        .select_from(ReplacementRequest)
        .where(
            ReplacementRequest.certificate_id == record.certificate_id,
            ReplacementRequest.copy == record.copy,
            Application.status.not_in(WORKFLOW.final_states),
            ReplacementRequest.id != record.id if record.id else ReplacementRequest.id.is_not(None),
        )
    )
    return _("A replacement of this copy is already in progress") if others else None


def reissue(record: ReplacementRequest, actor: Any, context: Any) -> None:
    """通过: one more copy of the kind is issued, the lost or damaged one is void; the certificate stays in force."""
    column = Certificate.copies_original if record.copy == "original" else Certificate.copies_duplicate
    db.session.execute(
        update(Certificate)
        .where(Certificate.id == record.certificate_id)
        .values({column: column + 1})
        .execution_options(synchronize_session=False)
    )
    certificate = db.session.get(Certificate, record.certificate_id)
    db.session.refresh(certificate)
    issued = copies_held(certificate, record.copy)
    record.issued_serial, record.voided_serial = issued, issued - 1
    copy = str(COPIES[record.copy])
    note = _(
        "%(copy)s No. %(new)s issued; %(copy)s No. %(old)s is void (%(reason)s, replacement No. %(id)s)",
        copy=copy,
        new=issued,
        old=issued - 1,
        reason=REASONS[record.reason],
        id=record.id,
    )
    enterprise = db.session.get(Enterprise, record.enterprise_id)
    if certificate.holder_name != enterprise.name:  # the new copy is printed with the current name
        note += " " + _("Holder name now %(name)s", name=enterprise.name)
        certificate.holder_name = enterprise.name
    certificates.record_event(certificate, "copy_reissued", note, actor)


def voided_copies(certificate_id: int) -> list[tuple[str, int]]:
    """(copy, serial) of every copy of the certificate declared void by a reissue, oldest first
    (for pages that show a certificate: the verification page can say which copies no longer count)."""
    rows = db.session.execute(
        select(ReplacementRequest.copy, ReplacementRequest.voided_serial)
        .where(ReplacementRequest.certificate_id == certificate_id, ReplacementRequest.voided_serial.is_not(None))
        .order_by(ReplacementRequest.decided_on, ReplacementRequest.id)
    )
    return [(copy, serial) for copy, serial in rows]


def delivery_chosen_and_free(record: ReplacementRequest, actor: Any) -> str | None:
    payment = record.payment
    if payment is None or payment.delivery_method not in ("mail", "pickup"):
        return _("Please choose how the certificate is delivered")
    if payment.fee:
        return _("Please pay the fee first")
    return None


def fields_context(record: ReplacementRequest) -> dict[str, Any]:
    return {"copies": COPIES, "reasons": REASONS, "certificate_kinds": certificates.KINDS}


WORKFLOW = register(
    Workflow(
        kind=KIND,
        label=_l("Certificate replacement"),
        model=ReplacementRequest,
        permission_view="ReplacementReview",
        state_labels={**payments.STATES, "completed": State(_l("Reissued"), "success")},
        editable_states=("draft", "submitted", "returned"),
        final_states=("refused", "withdrawn", "completed"),
        fields_template="replacement/_fields.html",
        portal_endpoint="ReplacementView.detail",
        menu_icon="fa-clone",
        queue_label=_l("Certificate replacements"),
        context=fields_context,
        transitions=(
            *owner_transitions(
                submit_guards=(certificate_replaceable, one_open_per_copy),
                resubmit_guards=(certificate_replaceable, one_open_per_copy),
                resubmit_bare=True,
            ),
            *review_transitions(
                approved_notice=_l("approved, the copy is reissued; please choose how it is delivered"),
                approve_effects=(payments.fix_fee(lambda record: fee()), reissue),
                approve_guards=(certificate_replaceable,),
            ),
            Transition(
                "deliver",
                ("approved",),
                "completed",
                _l("Confirm delivery"),
                owner_only=True,
                guards=(delivery_chosen_and_free,),
            ),
            *payments.transitions(
                completed="completed",
                on_confirm=(),
                confirm_notice=_l("payment confirmed, the reissued copy will be delivered"),
            ),
        ),
    )
)

"""Payment and delivery as a part any workflow can include: 证书发放方式 → 去缴费 → 上传转账截图 → 立即提交,
then 确认缴费 or 退回缴费 by the association.

A workflow includes it by adding `STATES` to its state labels and `transitions(...)` to its table;
the portal's payment routes and panel come with the shared application views.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .. import audit, db
from ..models import Application, Payment, utcnow
from ..uploads import save_upload
from . import Effect, State, Transition, apply, claim_for_change

PAYABLE_STATES = ("approved", "payment_returned")
STATES = {
    "payment_submitted": State(_l("Paid, awaiting confirmation"), "info"),
    "payment_returned": State(_l("Payment returned"), "warning"),
}
DELIVERY_FIELDS = ("delivery_method", "mail_recipient", "mail_phone", "mail_address")


def part_of(record: Application) -> Payment:
    """The application's payment row, created on first use."""
    if record.payment is None:
        record.payment = Payment(enterprise_id=record.enterprise_id)
    return record.payment


def payment_ready(record: Application, actor: Any) -> str | None:
    payment = record.payment
    if payment is None or payment.delivery_method not in ("mail", "pickup"):
        return _("Please choose how the certificate is delivered")
    if payment.delivery_method == "mail" and not (
        payment.mail_recipient and payment.mail_phone and payment.mail_address
    ):
        return _("Please fill in the recipient, phone and address for delivery by mail")
    if not payment.file_id or not payment.phone:
        return _("Please upload the transfer screenshot and give a contact mobile number")
    return None


def fix_fee(fee_of: Callable[[Any], Any]) -> Effect:
    """Effect: the fee the enterprise has to pay is fixed when the application is approved."""

    def effect(record: Application, actor: Any, context: Any) -> None:
        part_of(record).fee = fee_of(record)

    return effect


def stamp_payment(record: Application, actor: Any, context: Any) -> None:
    part_of(record).submitted_on = utcnow()


def clear_payment(record: Application, actor: Any, context: Any) -> None:
    """A returned payment needs a new transfer screenshot (the old file stays stored)."""
    part_of(record).file_id = None


def transitions(
    *,
    completed: str,
    on_confirm: tuple[Effect, ...],
    confirm_notice: Any,
    sources: tuple[str, ...] = PAYABLE_STATES,
) -> tuple[Transition, ...]:
    """立即提交 (owner), 确认缴费 and 退回缴费 (association) for a workflow whose approval asks for payment."""
    return (
        Transition(
            "pay",
            sources,
            "payment_submitted",
            _l("Submit now"),
            owner_only=True,
            guards=(payment_ready,),
            effects=(stamp_payment,),
        ),
        Transition(
            "confirm_payment",
            ("payment_submitted",),
            completed,
            _l("Confirm payment"),
            permission="can_confirm_payment",
            effects=on_confirm,
            notify=confirm_notice,
            style="success",
            decides=True,
        ),
        Transition(
            "return_payment",
            ("payment_submitted",),
            "payment_returned",
            _l("Return payment"),
            permission="can_return_payment",
            needs_comment=True,
            effects=(clear_payment,),
            notify=_l("payment returned"),
            style="warning",
        ),
    )


def choose_delivery(record: Application, actor: Any, values: dict[str, Any]) -> None:
    """证书发放方式: store the choice while payment is possible (version-checked, audited, committed)."""
    claim_for_change(record, PAYABLE_STATES)
    payment = part_of(record)
    mail = values["delivery_method"] == "mail"
    before = audit.snapshot(payment, list(DELIVERY_FIELDS)) if payment.id else None
    payment.delivery_method = values["delivery_method"]
    payment.mail_recipient = (values.get("mail_recipient") or "").strip() or None if mail else None
    payment.mail_phone = values.get("mail_phone") if mail else None
    payment.mail_address = (values.get("mail_address") or "").strip() or None if mail else None
    db.session.flush()
    audit.record(
        "update",
        "Payment",
        payment.id,
        before=before,
        after=audit.snapshot(payment, list(DELIVERY_FIELDS)),
        actor=actor,
    )
    try:
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise


def submit_payment(record: Application, actor: Any, screenshot: Any, phone: str) -> None:
    """上传转账截图 + 联系手机号 → 立即提交, in one transaction (the file follows a rollback).

    Raises UploadRejected for a bad file and WorkflowError when 立即提交 is refused.
    """
    stored = save_upload(
        screenshot,
        purpose=f"{record.kind}_payment",
        enterprise_id=record.enterprise_id,
        uploaded_by_id=actor.id,
        accept=("image",),
    )
    payment = part_of(record)
    payment.file_id = stored.id
    payment.phone = phone
    try:
        apply(record, "pay", actor)
    except Exception:
        db.session.rollback()
        raise

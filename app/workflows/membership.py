"""入会申请 workflow: notice -> application -> review -> delivery and payment -> member."""

from __future__ import annotations

import datetime as dt

from dateutil.relativedelta import relativedelta
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, true

from .. import db
from ..models import Application, Membership, MembershipApplication, utcnow
from ..numbering import next_number
from ..settings import get_int
from . import Transition, Workflow, register

KIND = "membership"
OPEN_STATES_FINAL = ("refused", "withdrawn", "completed")


def notice_read_long_enough(record: MembershipApplication, actor) -> str | None:
    seconds = get_int("membership.notice_seconds")
    if record.notice_read_on is None or (utcnow() - record.notice_read_on).total_seconds() < seconds:
        return _("Please read the membership notice for at least %(s)s seconds first", s=seconds)
    return None


def no_other_open_application(record: MembershipApplication, actor) -> str | None:
    others = db.session.scalar(
        select(func.count())
        .select_from(Application)
        .where(
            Application.kind == KIND,
            Application.enterprise_id == record.enterprise_id,
            Application.status.not_in(OPEN_STATES_FINAL),
            Application.id != record.id if record.id else true(),
        )
    )
    if others:
        return _("Your enterprise already has a membership application in progress or awaiting payment")
    if current_membership(record.enterprise_id) is not None:
        return _("Your enterprise is already a member")
    return None


def payment_ready(record: MembershipApplication, actor) -> str | None:
    if record.delivery_method not in ("mail", "pickup"):
        return _("Please choose how the certificate is delivered")
    if record.delivery_method == "mail" and not (record.mail_recipient and record.mail_phone and record.mail_address):
        return _("Please fill in the recipient, phone and address for delivery by mail")
    if not record.payment_file_id or not record.payment_phone:
        return _("Please upload the transfer screenshot and give a contact mobile number")
    return None


def fix_fee(record: MembershipApplication, actor, context) -> None:
    record.fee = record.tier.annual_fee


def stamp_payment(record: MembershipApplication, actor, context) -> None:
    record.payment_submitted_on = utcnow()


def clear_payment(record: MembershipApplication, actor, context) -> None:
    """A returned payment needs a new transfer screenshot (the old file stays stored)."""
    record.payment_file_id = None


def make_member(record: MembershipApplication, actor, context) -> None:
    today = dt.date.today()
    months = get_int("membership.period_months")
    db.session.add(
        Membership(
            enterprise_id=record.enterprise_id,
            application_id=record.id,
            member_number=next_number("membership", today),
            tier_id=record.tier_id,
            fee=record.fee if record.fee is not None else record.tier.annual_fee,
            valid_from=today,
            valid_until=today + relativedelta(months=months) - dt.timedelta(days=1),
            status="valid",
        )
    )


def current_membership(enterprise_id: int) -> Membership | None:
    return db.session.scalar(
        select(Membership)
        .where(
            Membership.enterprise_id == enterprise_id,
            Membership.status == "valid",
            Membership.valid_until >= dt.date.today(),
        )
        .order_by(Membership.valid_until.desc())
        .limit(1)
    )


WORKFLOW = register(
    Workflow(
        kind=KIND,
        label=_l("Membership application"),
        model=MembershipApplication,
        permission_view="MembershipReview",
        editable_states=("draft", "submitted", "returned"),
        final_states=OPEN_STATES_FINAL,
        transitions=(
            Transition(
                "submit",
                ("draft",),
                "submitted",
                _l("Submit application"),
                owner_only=True,
                guards=(notice_read_long_enough, no_other_open_application),
            ),
            Transition(
                "resubmit",
                ("returned",),
                "submitted",
                _l("Submit again"),
                owner_only=True,
                guards=(no_other_open_application,),
            ),
            Transition(
                "withdraw", ("submitted", "returned"), "withdrawn", _l("Withdraw"), owner_only=True, style="default"
            ),
            Transition(
                "receive",
                ("submitted",),
                "received",
                _l("Receive"),
                permission="can_receive",
                notify=_l("materials received"),
            ),
            Transition(
                "approve",
                ("submitted", "received"),
                "approved",
                _l("Approve"),
                permission="can_approve",
                effects=(fix_fee,),
                notify=_l("approved, please pay the membership fee"),
                style="success",
            ),
            Transition(
                "return",
                ("submitted", "received"),
                "returned",
                _l("Return"),
                permission="can_return",
                needs_comment=True,
                notify=_l("returned for changes"),
                style="warning",
            ),
            Transition(
                "refuse",
                ("submitted", "received"),
                "refused",
                _l("Refuse"),
                permission="can_refuse",
                needs_comment=True,
                notify=_l("not approved"),
                style="danger",
            ),
            Transition(
                "pay",
                ("approved", "payment_returned"),
                "payment_submitted",
                _l("Submit now"),
                owner_only=True,
                guards=(payment_ready,),
                effects=(stamp_payment,),
            ),
            Transition(
                "confirm_payment",
                ("payment_submitted",),
                "completed",
                _l("Confirm payment"),
                permission="can_confirm_payment",
                effects=(make_member,),
                notify=_l("payment confirmed, welcome as a member"),
                style="success",
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
        ),
    )
)

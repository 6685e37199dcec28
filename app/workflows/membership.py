"""入会申请 workflow: notice -> application -> review -> delivery and payment -> member."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .. import memberships
from ..models import MembershipApplication
from . import (
    State,
    Workflow,
    notice_read,
    one_open_per,
    owner_transitions,
    payments,
    register,
    review_transitions,
)

KIND = "membership"


def not_yet_member(record: MembershipApplication, actor) -> str | None:
    if memberships.current_membership(record.enterprise_id) is not None:
        return _("Your enterprise is already a member")
    return None


no_other_open_application = one_open_per(
    KIND,
    _l("Your enterprise already has a membership application in progress or awaiting payment"),
    also=not_yet_member,
)
notice_read_long_enough = notice_read(
    "membership.notice_seconds", _l("Please read the membership notice for at least %(s)s seconds first")
)


def make_member(record: MembershipApplication, actor, context) -> None:
    fee = record.payment.fee if record.payment and record.payment.fee is not None else record.tier.annual_fee
    memberships.grant(record.enterprise_id, record.tier_id, fee, application_id=record.id, actor=actor)


def fields_context(record: MembershipApplication) -> dict:
    """The membership the application produced (its member number and period), once completed."""
    from sqlalchemy import select

    from .. import db
    from ..models import Membership

    if record.status != "completed":
        return {"membership": None}
    return {"membership": db.session.scalar(select(Membership).where(Membership.application_id == record.id))}


WORKFLOW = register(
    Workflow(
        kind=KIND,
        label=_l("Membership application"),
        model=MembershipApplication,
        permission_view="MembershipReview",
        state_labels={**payments.STATES, "completed": State(_l("Membership completed"), "success")},
        editable_states=("draft", "submitted", "returned"),
        final_states=("refused", "withdrawn", "completed"),
        fields_template="membership/_fields.html",
        context=fields_context,
        portal_endpoint="MembershipView.detail",
        menu_icon="fa-id-badge",
        queue_label=_l("Membership applications"),
        transitions=(
            *owner_transitions(
                submit_guards=(notice_read_long_enough, no_other_open_application),
                resubmit_guards=(no_other_open_application,),
                resubmit_bare=True,
            ),
            *review_transitions(
                approved_notice=_l("approved, please pay the membership fee"),
                approve_effects=(payments.fix_fee(lambda record: record.tier.annual_fee),),
            ),
            *payments.transitions(
                completed="completed",
                on_confirm=(make_member,),
                confirm_notice=_l("payment confirmed, welcome as a member"),
            ),
        ),
    )
)

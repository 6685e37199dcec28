"""入会申请 (manual chapter 入会申请): what is membership's own on top of the generic application pages."""

from __future__ import annotations

from typing import Any

from flask import g
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from .. import db
from ..forms import MembershipForm
from ..memberships import current_membership
from ..models import Membership, MemberTier
from ..scoping import scoped
from ..workflows.membership import no_other_open_application
from .applications import ApplicationPortalView, PaymentPortalMixin


def tier_choices() -> list[tuple[int, str]]:
    tiers = db.session.scalars(select(MemberTier).where(MemberTier.active.is_(True)).order_by(MemberTier.sort_order))
    return [
        (tier.id, _("%(name)s (annual fee %(fee)s yuan)", name=tier.name, fee=f"{tier.annual_fee:,.0f}"))
        for tier in tiers
    ]


class MembershipView(PaymentPortalMixin, ApplicationPortalView):
    route_base = "/membership"
    class_permission_name = "Membership"
    kind = "membership"
    form_class = MembershipForm
    form_fields = (
        "tier_id",
        "legal_person",
        "registered_capital",
        "employees",
        "technical_staff",
        "main_business",
        "introduction",
        "contact_person",
        "contact_phone",
    )
    title = _l("Membership application")
    notice_setting = "membership.notice_text"
    notice_seconds_setting = "membership.notice_seconds"
    notice_title = _l("Membership notice")
    notice_checkbox = _l("I have read the membership notice")
    msg_tick_notice = _l("Please tick “I have read the membership notice”")
    msg_read_longer = _l("Please read the membership notice for at least %(s)s seconds first")
    msg_read_first = _l("Please read the membership notice first")
    index_template = "membership/index.html"
    detail_template = "membership/detail.html"
    pay_title = _l("Pay the membership fee")
    refuse_before_notice = True

    def make_form(self, record: Any = None) -> Any:
        form = super().make_form(record)
        form.tier.choices = tier_choices()
        if record is not None and form.tier.data is None:
            form.tier.data = record.tier_id
        return form

    def form_values(self, form: Any) -> dict[str, Any]:
        values = {name: getattr(form, name).data for name in self.form_fields if name != "tier_id"}
        values["tier_id"] = form.tier.data
        return values

    def prefill(self, form: Any, enterprise: Any) -> None:
        form.legal_person.data = enterprise.legal_person
        form.registered_capital.data = enterprise.registered_capital
        form.contact_person.data = enterprise.contact_person
        form.contact_phone.data = enterprise.mobile

    def refusal_before_apply(self) -> str | None:
        probe = self.model(enterprise_id=g.user.enterprise_id)
        return no_other_open_application(probe, g.user)

    def index_context(self) -> dict[str, Any]:
        memberships = db.session.scalars(
            scoped(select(Membership), Membership).order_by(Membership.valid_from.desc())
        ).all()
        return {"memberships": memberships, "current": current_membership(g.user.enterprise_id)}

    def detail_context(self, record: Any) -> dict[str, Any]:
        return {"membership": db.session.scalar(select(Membership).where(Membership.application_id == record.id))}

    def fee_due(self, record: Any) -> Any:
        return record.payment.fee if record.payment and record.payment.fee is not None else record.tier.annual_fee

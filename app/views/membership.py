"""入会申请 (manual chapter 入会申请): what is membership's own on top of the generic application pages."""

from __future__ import annotations

from typing import Any

from flask import g
from flask_appbuilder import ModelView
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from .. import certificates, db
from ..forms import MembershipForm
from ..lists import CsvExportMixin, EagerInterface, local_time
from ..memberships import current_membership
from ..models import Enterprise, Membership, MemberTier
from ..scoping import ScopedActionsMixin, scoped
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
    list_extra_label = _l("Member tier")
    list_loads = ("tier",)
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
        # Every row shows its tier: the few tiers are loaded once (held here, so the identity map keeps
        # them) and each row's many-to-one `tier` is then found there instead of by a query per tier.
        tiers = db.session.scalars(select(MemberTier)).all()
        memberships = db.session.scalars(
            scoped(select(Membership), Membership).order_by(Membership.valid_from.desc())
        ).all()
        return {"memberships": memberships, "current": current_membership(g.user.enterprise_id), "tiers": tiers}

    def detail_context(self, record: Any) -> dict[str, Any]:
        return {"membership": db.session.scalar(select(Membership).where(Membership.application_id == record.id))}

    def list_extra(self, record: Any) -> Any:
        return record.tier.name

    def fee_due(self, record: Any) -> Any:
        return record.payment.fee if record.payment and record.payment.fee is not None else record.tier.annual_fee


class MemberListView(CsvExportMixin, ScopedActionsMixin, ModelView):
    """会员管理 in the back office: every membership period, read-only, with 导出 CSV."""

    datamodel = EagerInterface(Membership, eager=("enterprise", "tier"))
    route_base = "/backoffice/members"
    class_permission_name = "MemberList"
    include_route_methods = {"list"}
    list_title = _l("Members")
    list_columns = ["member_number", "enterprise", "tier", "valid_from", "valid_until", "status", "created_on"]
    csv_columns = ["member_number", "enterprise", "credit_code", "tier", "valid_from", "valid_until", "status", "created_on"]
    search_columns = ["tier", "valid_from", "valid_until"]
    # no add or edit route; FAB still builds the forms, which cannot take the member number's subquery
    add_columns = edit_columns = ["status"]
    order_columns = ["valid_from", "valid_until", "created_on"]
    base_order = ("valid_from", "desc")
    page_size = 50
    label_columns = {
        "member_number": _l("Member number"),
        "enterprise": _l("Enterprise"),
        "credit_code": _l("Unified social credit code"),
        "tier": _l("Member tier"),
        "valid_from": _l("Valid from"),
        "valid_until": _l("Valid until"),
        "status": _l("Status"),
        "created_on": _l("Joined on"),
    }
    formatters_columns = {
        "status": lambda code: str(certificates.STATUSES.get(code, code)),
        "created_on": local_time,
    }
    csv_exprs = {
        "enterprise": lambda: _enterprise_value(Enterprise.name),
        "credit_code": lambda: _enterprise_value(Enterprise.credit_code),
        "tier": lambda: select(MemberTier.name).where(MemberTier.id == Membership.tier_id).scalar_subquery(),
    }


def _enterprise_value(column):
    return select(column).where(Enterprise.id == Membership.enterprise_id).scalar_subquery()

"""入会申请 (manual chapter 入会申请): notice, form, timeline, delivery choice and payment."""

from __future__ import annotations

import datetime as dt

from flask import flash, g, redirect, request, session, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _
from sqlalchemy import select

from .. import audit, db
from ..forms import DeliveryForm, MembershipForm, PaymentForm
from ..models import Membership, MembershipApplication, MemberTier, utcnow
from ..scoping import get_scoped_or_404, scoped
from ..settings import get_int, get_setting
from ..uploads import UploadRejected, save_upload
from ..workflows import InvalidTransition, WorkflowError, apply, available, can_edit, claim_for_change, workflow_for
from ..workflows.membership import current_membership, no_other_open_application
from .common import flash_form_errors

NOTICE_OPENED = "membership_notice_opened"
NOTICE_READ = "membership_notice_read"
FORM_FIELDS = (
    "legal_person",
    "registered_capital",
    "employees",
    "technical_staff",
    "main_business",
    "introduction",
    "contact_person",
    "contact_phone",
)


# Transitions the enterprise fires with a bare button; the others come with their own form.
ACT_TRANSITIONS = ("withdraw", "resubmit")
PAYABLE_STATES = ("approved", "payment_returned")
DELIVERY_FIELDS = ["delivery_method", "mail_recipient", "mail_phone", "mail_address"]


def _form_version() -> int | None:
    """The application version the submitted page showed (stale pages are refused)."""
    value = request.form.get("version", "")
    return int(value) if value.isdigit() else None


def tier_choices() -> list[tuple[int, str]]:
    tiers = db.session.scalars(select(MemberTier).where(MemberTier.active.is_(True)).order_by(MemberTier.sort_order))
    return [
        (tier.id, _("%(name)s (annual fee %(fee)s yuan)", name=tier.name, fee=f"{tier.annual_fee:,.0f}"))
        for tier in tiers
    ]


def _parse_time(value: str | None) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


class MembershipView(BaseView):
    route_base = "/membership"
    class_permission_name = "Membership"
    default_view = "index"

    def _own(self, application_id: int) -> MembershipApplication:
        return get_scoped_or_404(MembershipApplication, application_id)

    @expose("/")
    @has_access
    def index(self):
        applications = db.session.scalars(
            scoped(select(MembershipApplication), MembershipApplication).order_by(MembershipApplication.id.desc())
        ).all()
        memberships = db.session.scalars(
            scoped(select(Membership), Membership).order_by(Membership.valid_from.desc())
        ).all()
        return self.render_template(
            "membership/index.html",
            applications=applications,
            memberships=memberships,
            current=current_membership(g.user.enterprise_id),
        )

    @expose("/notice", methods=["GET", "POST"])
    @has_access
    def notice(self):
        seconds = get_int("membership.notice_seconds")
        if request.method == "GET":
            session[NOTICE_OPENED] = utcnow().isoformat()
            session.pop(NOTICE_READ, None)
        else:
            opened = _parse_time(session.get(NOTICE_OPENED))
            if request.form.get("read") != "y":
                flash(_("Please tick “I have read the membership notice”"), "warning")
            elif opened is None or (utcnow() - opened).total_seconds() < seconds:
                flash(_("Please read the membership notice for at least %(s)s seconds first", s=seconds), "warning")
            else:
                session[NOTICE_READ] = opened.isoformat()
                return redirect(url_for("MembershipView.apply"))
        return self.render_template(
            "membership/notice.html", notice=get_setting("membership.notice_text"), seconds=seconds
        )

    @expose("/apply", methods=["GET", "POST"])
    @has_access
    def apply(self):
        read_on = _parse_time(session.get(NOTICE_READ))
        if read_on is None:
            flash(_("Please read the membership notice first"), "warning")
            return redirect(url_for("MembershipView.notice"))
        probe = MembershipApplication(enterprise_id=g.user.enterprise_id)
        refusal = no_other_open_application(probe, g.user)
        if refusal:
            flash(refusal, "warning")
            return redirect(url_for("MembershipView.index"))
        enterprise = g.user.enterprise
        form = MembershipForm()
        form.tier.choices = tier_choices()
        if request.method == "GET":
            form.legal_person.data = enterprise.legal_person
            form.registered_capital.data = enterprise.registered_capital
            form.contact_person.data = enterprise.contact_person
            form.contact_phone.data = enterprise.mobile
        if form.validate_on_submit():
            record = MembershipApplication(
                enterprise_id=enterprise.id,
                status="draft",
                version=1,
                created_by_id=g.user.id,
                tier_id=form.tier.data,
                notice_read_on=read_on,
                **{name: getattr(form, name).data for name in FORM_FIELDS},
            )
            db.session.add(record)
            db.session.flush()
            try:
                apply(record, "submit", g.user)
            except WorkflowError as error:
                db.session.rollback()
                flash(error.message, "danger")
            else:
                session.pop(NOTICE_READ, None)
                flash(_("Your application has been submitted; the association will review it"), "success")
                return redirect(url_for("MembershipView.detail", application_id=record.id))
        return self.render_template("membership/form.html", form=form, title=_("Membership application"))

    @expose("/<int:application_id>")
    @has_access
    def detail(self, application_id: int):
        record = self._own(application_id)
        delivery = DeliveryForm(obj=record)
        return self.render_template(
            "membership/detail.html",
            record=record,
            actions=available(record, g.user),
            editable=can_edit(record, g.user),
            delivery=delivery,
            membership=db.session.scalar(select(Membership).where(Membership.application_id == record.id)),
        )

    @expose("/<int:application_id>/edit", methods=["GET", "POST"])
    @has_access
    def edit(self, application_id: int):
        record = self._own(application_id)
        if not can_edit(record, g.user):
            flash(_("The association has received the materials; they can no longer be changed"), "warning")
            return redirect(url_for("MembershipView.detail", application_id=record.id))
        form = MembershipForm(obj=record if request.method == "GET" else None)
        form.tier.choices = tier_choices()
        if request.method == "GET":
            form.tier.data = record.tier_id
        if form.validate_on_submit():
            # The lock is checked again at write time: a reviewer may have received it meanwhile.
            try:
                claim_for_change(record, workflow_for(record).editable_states, _form_version())
            except WorkflowError:
                flash(_("The association has received the materials; they can no longer be changed"), "warning")
                return redirect(url_for("MembershipView.detail", application_id=record.id))
            before = audit.snapshot(record, ["tier_id", *FORM_FIELDS])
            record.tier_id = form.tier.data
            for name in FORM_FIELDS:
                setattr(record, name, getattr(form, name).data)
            after = audit.snapshot(record, ["tier_id", *FORM_FIELDS])
            audit.record("update", "MembershipApplication", record.id, before=before, after=after)
            db.session.commit()
            flash(_("The application has been updated"), "success")
            return redirect(url_for("MembershipView.detail", application_id=record.id))
        return self.render_template("membership/form.html", form=form, title=_("Edit materials"), record=record)

    @expose("/<int:application_id>/act", methods=["POST"])
    @has_access
    def act(self, application_id: int):
        record = self._own(application_id)
        name = request.form.get("transition", "")
        try:
            if name not in ACT_TRANSITIONS:
                # 提交申请 and 立即提交 carry data and go through their own forms.
                raise InvalidTransition(_("Unknown action"))
            apply(record, name, g.user, request.form.get("comment"), expected_version=_form_version())
        except WorkflowError as error:
            flash(error.message, "danger")
        else:
            flash(_("Done"), "success")
        return redirect(url_for("MembershipView.detail", application_id=record.id))

    @expose("/<int:application_id>/delivery", methods=["POST"])
    @has_access
    def delivery(self, application_id: int):
        """证书发放方式 -> 去缴费."""
        record = self._own(application_id)
        if record.status not in PAYABLE_STATES:
            flash(_("Payment is not possible in the current state"), "warning")
            return redirect(url_for("MembershipView.detail", application_id=record.id))
        form = DeliveryForm()
        if not form.validate_on_submit():
            flash_form_errors(form)
            return redirect(url_for("MembershipView.detail", application_id=record.id))
        try:
            claim_for_change(record, PAYABLE_STATES)
        except WorkflowError as error:
            flash(error.message, "danger")
            return redirect(url_for("MembershipView.detail", application_id=record.id))
        before = audit.snapshot(record, DELIVERY_FIELDS)
        record.delivery_method = form.delivery_method.data
        mail = form.delivery_method.data == "mail"
        record.mail_recipient = form.mail_recipient.data.strip() if mail else None
        record.mail_phone = form.mail_phone.data if mail else None
        record.mail_address = form.mail_address.data.strip() if mail else None
        audit.record(
            "update", "MembershipApplication", record.id, before=before, after=audit.snapshot(record, DELIVERY_FIELDS)
        )
        db.session.commit()
        return redirect(url_for("MembershipView.pay", application_id=record.id))

    @expose("/<int:application_id>/pay", methods=["GET", "POST"])
    @has_access
    def pay(self, application_id: int):
        """上传转账截图 + 联系手机号 -> 立即提交."""
        record = self._own(application_id)
        if record.status not in PAYABLE_STATES or not record.delivery_method:
            return redirect(url_for("MembershipView.detail", application_id=record.id))
        form = PaymentForm()
        if request.method == "GET":
            form.payment_phone.data = record.payment_phone or g.user.phone
        if form.validate_on_submit():
            try:
                stored = save_upload(
                    request.files.get("screenshot"),
                    purpose="membership_payment",
                    enterprise_id=record.enterprise_id,
                    uploaded_by_id=g.user.id,
                    accept=("image",),
                )
            except UploadRejected as error:
                form.screenshot.errors.append(error.message)
            else:
                record.payment_file_id = stored.id
                record.payment_phone = form.payment_phone.data
                try:
                    apply(record, "pay", g.user)
                except WorkflowError as error:
                    db.session.rollback()
                    flash(error.message, "danger")
                else:
                    flash(_("Payment submitted; the association will confirm it"), "success")
                    return redirect(url_for("MembershipView.detail", application_id=record.id))
        return self.render_template(
            "membership/pay.html", record=record, form=form, instructions=get_setting("membership.payment_instructions")
        )

"""The portal's generic application pages, configured per workflow: list, notice gate, form, detail
with the review timeline, edit until received, the owner's plain-button transitions, and the
payment part (证书发放方式 → 去缴费 → 立即提交) for workflows that include it.

A type's portal view subclasses `ApplicationPortalView` and declares its workflow kind, form,
fields and templates; it keeps only what is its own. Views never commit: the engine does.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

from flask import abort, current_app, flash, g, redirect, request, session, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from .. import db
from ..forms import DeliveryForm, PaymentForm
from ..lists import page_size, paginate
from ..models import ApplicationFile, utcnow
from ..scoping import get_scoped_or_404, scoped
from ..settings import get_int, get_setting, payment_instructions_missing
from ..uploads import UploadRejected, save_upload
from ..workflows import (
    REGISTRY,
    InvalidTransition,
    Workflow,
    WorkflowError,
    apply,
    available,
    can_edit,
    create_and_fire,
    payments,
    update_data,
)
from .common import flash_form_errors, page_number

LIST_PAGE_SIZE = 25  # an enterprise's own applications of one type, newest first


def form_version() -> int | None:
    """The application version the submitted page showed (stale pages are refused)."""
    value = request.form.get("version", "")
    return int(value) if value.isdigit() else None


def _parse_time(value: str | None) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


class ProofSlot(NamedTuple):
    """One file input of an application form: the proof (an `ApplicationFile.requirement`) it carries."""

    input: str
    requirement: str
    label: Any
    fields: tuple[str, ...] = ()  # labels of the form fields that need it (shown as help)
    required: bool = True
    missing: Any = None  # the message when it is required and neither uploaded nor held


class ApplicationPortalView(BaseView):
    """Portal pages of one application type. Subclasses set the class attributes below."""

    default_view = "index"
    kind: str = ""
    form_class: Any = None
    form_fields: tuple[str, ...] = ()
    title: Any = ""
    # The notice gate (查看须知 → 已阅读 → apply): the setting holding its text and minimum reading time.
    notice_setting: str | None = None
    notice_seconds_setting: str | None = None
    notice_title: Any = ""
    notice_checkbox: Any = ""
    msg_tick_notice: Any = ""
    msg_read_longer: Any = ""  # with %(s)s
    msg_read_first: Any = ""
    msg_locked: Any = _l("The association has received the materials; they can no longer be changed")
    msg_submitted: Any = _l("Your application has been submitted; the association will review it")
    form_title: Any = None  # the new-application form's title (default: `title`)
    upload_purpose = "application_proof"
    index_template = "applications/index.html"
    detail_template = "applications/detail.html"
    form_template = "applications/form.html"
    notice_template = "applications/notice.html"
    pay_template = "applications/pay.html"

    # --- configuration hooks ----------------------------------------------------------------

    @property
    def workflow(self) -> Workflow:
        return REGISTRY[self.kind]

    @property
    def model(self) -> type:
        return self.workflow.model

    def endpoint_for(self, name: str) -> str:
        return f"{type(self).__name__}.{name}"

    def make_form(self, record: Any = None) -> Any:
        """The type's form, with its choices; `record` fills it when editing."""
        return self.form_class(obj=record if record is not None and request.method == "GET" else None)

    def prefill(self, form: Any, enterprise: Any) -> None:
        """Fill a new form from the enterprise profile."""

    def form_values(self, form: Any) -> dict[str, Any]:
        return {name: getattr(form, name).data for name in self.form_fields}

    # Say why the enterprise may not apply before it sits through the notice (and not after).
    refuse_before_notice = False

    def refusal_before_apply(self) -> str | None:
        """Why the enterprise may not start an application now (shown before the form)."""
        return None

    def index_context(self) -> dict[str, Any]:
        return {}

    # One more column in the list of the enterprise's applications (its label, and its value per record),
    # and the relationships the list shows, loaded for the whole page at once.
    list_extra_label: Any = None
    list_loads: tuple[str, ...] = ()

    def list_extra(self, record: Any) -> Any:
        return ""

    # --- proofs uploaded with the form -------------------------------------------------------

    def proof_slots(self) -> list[ProofSlot]:
        """The form's file inputs; none by default."""
        return []

    def uploads(self) -> dict[str, Any]:
        """Requirement -> the file uploaded for it with this request."""
        return {
            slot.requirement: request.files[slot.input]
            for slot in self.proof_slots()
            if request.files.get(slot.input) and request.files[slot.input].filename
        }

    def check(self, values: dict[str, Any], uploads: dict[str, Any], record: Any = None) -> str | None:
        """Why these values and files cannot be sent, or None: by default a required proof that is
        neither uploaded now nor held by the application."""
        slots = self.proof_slots()
        if not slots:
            return None
        held = {f.requirement for f in record.files} if record is not None else set()
        missing = [s for s in slots if s.required and s.requirement not in uploads.keys() | held]
        if not missing:
            return None
        if missing[0].missing:
            return str(missing[0].missing)
        return _("Please upload: %(names)s", names="、".join(str(s.label) for s in missing))

    def store_uploads(self, uploads: dict[str, Any]) -> list[Any]:
        """Store the uploaded proofs (flushed; they follow the caller's commit or rollback)."""
        labels = {slot.requirement: slot.label for slot in self.proof_slots()}
        files = []
        for requirement, upload in uploads.items():
            stored = save_upload(
                upload, purpose=self.upload_purpose, enterprise_id=g.user.enterprise_id, uploaded_by_id=g.user.id
            )
            files.append(
                ApplicationFile(
                    enterprise_id=g.user.enterprise_id,
                    requirement=requirement,
                    label=str(labels.get(requirement, requirement)),
                    file_id=stored.id,
                )
            )
        return files

    def form_context(self, record: Any) -> dict[str, Any]:
        """What the form page shows beside the form: the proof inputs and the proofs already held."""
        slots = self.proof_slots()
        held = {f.requirement: f for f in record.files} if record is not None and slots else {}
        return {"slots": slots, "held": held}

    def _form_page(self, form: Any, record: Any, title: Any):
        return self._render(self.form_template, form=form, title=title, record=record, **self.form_context(record))

    def detail_context(self, record: Any) -> dict[str, Any]:
        return {}

    def _own(self, application_id: int) -> Any:
        return get_scoped_or_404(self.model, application_id)

    def _detail(self, record: Any):
        return redirect(url_for(self.endpoint_for("detail"), application_id=record.id))

    def _render(self, template: str, **context: Any):
        return self.render_template(template, view=self, workflow=self.workflow, **context)

    @property
    def _opened_key(self) -> str:
        return f"{self.kind}_notice_opened"

    @property
    def _read_key(self) -> str:
        return f"{self.kind}_notice_read"

    # --- pages ------------------------------------------------------------------------------

    @expose("/")
    @has_access
    def index(self):
        model = self.model
        query = scoped(select(model), model).options(*(selectinload(getattr(model, name)) for name in self.list_loads))
        page = paginate(query, (model.id.desc(),), page_number(), page_size(LIST_PAGE_SIZE), counted=False)
        return self._render(self.index_template, applications=page.rows, page=page, **self.index_context())

    @expose("/notice", methods=["GET", "POST"])
    @has_access
    def notice(self):
        if not self.notice_setting:
            return redirect(url_for(self.endpoint_for("apply")))
        refusal = self.refusal_before_apply() if self.refuse_before_notice else None
        if refusal:
            flash(refusal, "warning")
            return redirect(url_for(self.endpoint_for("index")))
        seconds = get_int(self.notice_seconds_setting) if self.notice_seconds_setting else 0
        if request.method == "GET":
            session[self._opened_key] = utcnow().isoformat()
            session.pop(self._read_key, None)
        else:
            opened = _parse_time(session.get(self._opened_key))
            if request.form.get("read") != "y":
                flash(str(self.msg_tick_notice), "warning")
            elif opened is None or (utcnow() - opened).total_seconds() < seconds:
                flash(str(self.msg_read_longer) % {"s": seconds}, "warning")
            else:
                session[self._read_key] = opened.isoformat()
                return redirect(url_for(self.endpoint_for("apply")))
        return self._render(self.notice_template, notice=get_setting(self.notice_setting), seconds=seconds)

    @expose("/apply", methods=["GET", "POST"])
    @has_access
    def apply(self):
        if g.user.enterprise_id is None:  # only an enterprise applies (Admin holds every permission)
            abort(404)
        values: dict[str, Any] = {}
        if self.notice_setting:
            read_on = _parse_time(session.get(self._read_key))
            if read_on is None:
                flash(str(self.msg_read_first), "warning")
                return redirect(url_for(self.endpoint_for("notice")))
            values["notice_read_on"] = read_on
        refusal = self.refusal_before_apply()
        if refusal:
            flash(refusal, "warning")
            return redirect(url_for(self.endpoint_for("index")))
        form = self.make_form()
        if request.method == "GET":
            self.prefill(form, g.user.enterprise)
        if form.validate_on_submit():
            values, uploads = {**values, **self.form_values(form)}, self.uploads()
            problem = self.check(values, uploads)
            if problem:
                flash(problem, "danger")
            else:
                try:
                    if uploads:
                        values["files"] = self.store_uploads(uploads)
                    record = create_and_fire(self.model, values, g.user)
                except (UploadRejected, WorkflowError) as error:
                    db.session.rollback()
                    flash(error.message, "danger")
                else:
                    session.pop(self._read_key, None)
                    flash(str(self.msg_submitted), "success")
                    return self._detail(record)
        return self._form_page(form, None, self.form_title or self.title)

    @expose("/<int:application_id>")
    @has_access
    def detail(self, application_id: int):
        record = self._own(application_id)
        return self._render(
            self.detail_template,
            record=record,
            actions=available(record, g.user),
            editable=can_edit(record, g.user),
            delivery=DeliveryForm(obj=record.payment),
            payable_states=payments.PAYABLE_STATES,
            **(self.workflow.fields_context(record) | self.detail_context(record)),
        )

    @expose("/<int:application_id>/edit", methods=["GET", "POST"])
    @has_access
    def edit(self, application_id: int):
        record = self._own(application_id)
        if not can_edit(record, g.user):
            flash(str(self.msg_locked), "warning")
            return self._detail(record)
        form = self.make_form(record)
        if form.validate_on_submit():
            values, uploads = self.form_values(form), self.uploads()
            problem = self.check(values, uploads, record)
            if problem:
                flash(problem, "danger")
                return self._form_page(form, record, _("Edit materials"))
            try:
                if uploads:
                    for old in [f for f in record.files if f.requirement in uploads]:
                        record.files.remove(old)
                    record.files.extend(self.store_uploads(uploads))
                # The lock is checked again at write time: a reviewer may have received it meanwhile.
                update_data(record, values, g.user, expected_version=form_version())
            except UploadRejected as error:
                db.session.rollback()
                flash(error.message, "danger")
                return self._form_page(form, record, _("Edit materials"))
            except WorkflowError:
                flash(str(self.msg_locked), "warning")
                return self._detail(record)
            flash(_("The application has been updated"), "success")
            return self._detail(record)
        return self._form_page(form, record, _("Edit materials"))

    @expose("/<int:application_id>/act", methods=["POST"])
    @has_access
    def act(self, application_id: int):
        """Transitions the owner fires with a plain button; the others come with their own form."""
        record = self._own(application_id)
        name = request.form.get("transition", "")
        try:
            if name not in self.workflow.bare_transitions():
                raise InvalidTransition(_("Unknown action"))
            apply(record, name, g.user, request.form.get("comment"), expected_version=form_version())
        except WorkflowError as error:
            flash(error.message, "danger")
        else:
            flash(_("Done"), "success")
        return self._detail(record)


class PaymentPortalMixin:
    """证书发放方式 → 去缴费 → 上传转账截图 + 联系手机号 → 立即提交, for a workflow with the payment part."""

    pay_title: Any = _l("Pay the fee")
    payment_instructions_setting = "membership.payment_instructions"

    @expose("/<int:application_id>/delivery", methods=["POST"])
    @has_access
    def delivery(self, application_id: int):
        record = self._own(application_id)
        if record.status not in payments.PAYABLE_STATES:
            flash(_("Payment is not possible in the current state"), "warning")
            return self._detail(record)
        form = DeliveryForm()
        if not form.validate_on_submit():
            flash_form_errors(form)
            return self._detail(record)
        try:
            payments.choose_delivery(record, g.user, form.data)
            finished = self.after_delivery(record)
        except WorkflowError as error:
            flash(error.message, "danger")
            return self._detail(record)
        return finished or redirect(url_for(self.endpoint_for("pay"), application_id=record.id))

    def after_delivery(self, record: Any) -> Any:
        """Once 证书发放方式 is stored: a response to end there (a free reissue), or None for 去缴费."""
        return None

    @expose("/<int:application_id>/pay", methods=["GET", "POST"])
    @has_access
    def pay(self, application_id: int):
        record = self._own(application_id)
        if record.status not in payments.PAYABLE_STATES or not (record.payment and record.payment.delivery_method):
            return self._detail(record)
        form = PaymentForm()
        if request.method == "GET":
            form.payment_phone.data = record.payment.phone or g.user.phone
        if form.validate_on_submit():
            try:
                payments.submit_payment(record, g.user, request.files.get("screenshot"), form.payment_phone.data)
            except UploadRejected as error:
                form.screenshot.errors.append(error.message)
            except WorkflowError as error:
                flash(error.message, "danger")
            else:
                flash(_("Payment submitted; the association will confirm it"), "success")
                return self._detail(record)
        return self._render(
            self.pay_template,
            record=record,
            form=form,
            title=self.pay_title,
            fee=self.fee_due(record),
            instructions=get_setting(self.payment_instructions_setting),
            instructions_missing=payment_instructions_missing(self.payment_instructions_setting),
            association_contact=current_app.config.get("ASSOCIATION_CONTACT", ""),
        )

    def fee_due(self, record: Any) -> Any:
        return record.payment.fee if record.payment else None

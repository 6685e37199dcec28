"""证书补办 (manual 十一、证书补办): 挂失申请 → 填写挂失申请资料 → 提交申请; after 通过, 证书发放方式 (and
payment when `replacement.fee` is above 0)."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import expose, has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import RadioField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Length

from .. import db
from ..certificates import KINDS
from ..models import ApplicationFile, Certificate
from ..scoping import scoped
from ..uploads import UploadRejected, save_upload
from ..workflows import WorkflowError, apply, can_edit, create_and_fire, update_data
from ..workflows import replacement as replacement_workflow
from .applications import ApplicationPortalView, PaymentPortalMixin, form_version

PROOF = "replacement_proof"


class ReplacementForm(FlaskForm):
    """填写挂失申请资料."""

    certificate = SelectField(
        _l("Certificate to replace"), coerce=int, validators=[DataRequired(_l("Please choose the certificate"))]
    )
    copy = RadioField(
        _l("Copy"),
        choices=list(replacement_workflow.COPIES.items()),
        validators=[DataRequired(_l("Please choose the original or the duplicate"))],
    )
    reason = RadioField(
        _l("Reason for the replacement"),
        choices=list(replacement_workflow.REASONS.items()),
        validators=[DataRequired(_l("Please choose why the copy is replaced"))],
    )
    statement = TextAreaField(
        _l("Statement"),
        validators=[DataRequired(_l("Please describe how the certificate was lost or damaged")), Length(max=2000)],
    )


class ReplacementView(PaymentPortalMixin, ApplicationPortalView):
    route_base = "/replacement"
    class_permission_name = "Replacement"
    kind = replacement_workflow.KIND
    form_class = ReplacementForm
    title = _l("Report a loss")
    msg_submitted = _l("Your replacement request has been submitted; the association will review it")
    index_template = "replacement/index.html"
    form_template = "replacement/form.html"
    detail_template = "replacement/detail.html"
    pay_title = _l("Pay the replacement fee")
    fee_label = _l("Replacement fee")

    def own_certificates(self) -> list[Certificate]:
        """The signed-in enterprise's certificates in force that a replacement may name."""
        return list(
            db.session.scalars(
                scoped(select(Certificate), Certificate)
                .where(Certificate.status == "valid", Certificate.kind.in_(replacement_workflow.REPLACEABLE_KINDS))
                .order_by(Certificate.kind, Certificate.issued_on.desc(), Certificate.id.desc())
            )
        )

    def make_form(self, record: Any = None) -> Any:
        form = self.form_class(obj=record if record is not None and request.method == "GET" else None)
        form.certificate.choices = [(c.id, f"{KINDS[c.kind]} {c.number}") for c in self.own_certificates()]
        if record is not None and request.method == "GET":
            form.certificate.data = record.certificate_id
        return form

    def form_values(self, form: Any) -> dict[str, Any]:
        return {
            "certificate_id": form.certificate.data,
            "copy": form.copy.data,
            "reason": form.reason.data,
            "statement": form.statement.data.strip(),
        }

    def refusal_before_apply(self) -> str | None:
        if not self.own_certificates():
            return _("Your enterprise holds no certificate in force that could be replaced")
        return None

    def index_context(self) -> dict[str, Any]:
        return {"copies": replacement_workflow.COPIES}

    @expose("/")
    @has_access
    def index(self):
        model = self.model
        applications = db.session.scalars(
            scoped(select(model), model).options(selectinload(model.certificate)).order_by(model.id.desc())
        ).all()
        return self._render(self.index_template, applications=applications, **self.index_context())

    def _proof(self) -> Any:
        upload = request.files.get("proof")
        return upload if upload and upload.filename else None

    def _store_proof(self, upload: Any) -> ApplicationFile:
        stored = save_upload(upload, purpose=PROOF, enterprise_id=g.user.enterprise_id, uploaded_by_id=g.user.id)
        return ApplicationFile(
            enterprise_id=g.user.enterprise_id, requirement=PROOF, label=str(_l("Proof")), file_id=stored.id
        )

    def _form_page(self, form: Any, record: Any, title: Any):
        return self._render(self.form_template, form=form, title=title, record=record)

    @expose("/apply", methods=["GET", "POST"])
    @has_access
    def apply(self):
        if g.user.enterprise_id is None:  # only an enterprise applies (Admin holds every permission)
            abort(404)
        refusal = self.refusal_before_apply()
        if refusal:
            flash(refusal, "warning")
            return redirect(url_for(self.endpoint_for("index")))
        form = self.make_form()
        if request.method == "GET" and request.args.get("certificate", "").isdigit():
            form.certificate.data = int(request.args["certificate"])
            if request.args.get("reason") in replacement_workflow.REASONS:
                form.reason.data = request.args["reason"]
        if form.validate_on_submit():
            upload = self._proof()
            if upload is None:
                flash(_("Please upload the proof (the published loss notice or a photo of the damaged copy)"), "danger")
            else:
                try:
                    record = create_and_fire(
                        self.model, {**self.form_values(form), "files": [self._store_proof(upload)]}, g.user
                    )
                except (UploadRejected, WorkflowError) as error:
                    db.session.rollback()
                    flash(error.message, "danger")
                else:
                    flash(str(self.msg_submitted), "success")
                    return self._detail(record)
        return self._form_page(form, None, _("Loss report"))

    @expose("/<int:application_id>/edit", methods=["GET", "POST"])
    @has_access
    def edit(self, application_id: int):
        record = self._own(application_id)
        if not can_edit(record, g.user):
            flash(str(self.msg_locked), "warning")
            return self._detail(record)
        form = self.make_form(record)
        if form.validate_on_submit():
            try:
                upload = self._proof()
                if upload is not None:
                    for old in [f for f in record.files if f.requirement == PROOF]:
                        record.files.remove(old)
                    record.files.append(self._store_proof(upload))
                update_data(record, self.form_values(form), g.user, expected_version=form_version())
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

    # --- 证书发放方式: free reissues end there, paid ones go on to 去缴费 ---------------------------

    def after_delivery(self, record: Any) -> Any:
        """A free reissue ends with 证书发放方式; a paid one goes on to 去缴费."""
        if self.fee_due(record):
            return None
        apply(record, "deliver", g.user)
        flash(_("Delivery confirmed: the association will deliver the reissued copy"), "success")
        return self._detail(record)

    def detail_context(self, record: Any) -> dict[str, Any]:
        return {"fee": self.fee_due(record)}

    def fee_due(self, record: Any) -> Any:
        return record.payment.fee if record.payment and record.payment.fee is not None else 0

"""证书补办 (manual 十一、证书补办): 挂失申请 → 填写挂失申请资料 → 提交申请; after 通过, 证书发放方式 (and
payment when `replacement.fee` is above 0)."""

from __future__ import annotations

from typing import Any

from flask import flash, g, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import RadioField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Length

from .. import db
from ..certificates import KINDS
from ..models import Certificate
from ..scoping import scoped
from ..workflows import apply
from ..workflows import replacement as replacement_workflow
from .applications import ApplicationPortalView, PaymentPortalMixin, ProofSlot

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
    list_loads = ("certificate",)
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


    form_title = _l("Loss report")
    upload_purpose = PROOF

    def proof_slots(self) -> list[ProofSlot]:
        missing = _l("Please upload the proof (the published loss notice or a photo of the damaged copy)")
        return [ProofSlot("proof", PROOF, _l("Proof"), missing=missing)]

    def prefill(self, form: Any, enterprise: Any) -> None:
        """挂失 from 我的证书 names the certificate (and the reason) in the link."""
        if request.args.get("certificate", "").isdigit():
            form.certificate.data = int(request.args["certificate"])
            if request.args.get("reason") in replacement_workflow.REASONS:
                form.reason.data = request.args["reason"]

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

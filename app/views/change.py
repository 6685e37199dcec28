"""信息变更 (manual 十、信息变更): 申请变更 → 修改信息 with the proofs each changed field needs → 提交申请."""

from __future__ import annotations

import re
from typing import Any

from flask import g
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DecimalField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional, ValidationError

from ..models import PROFILE_FIELDS, Enterprise
from ..scoping import get_scoped_or_404
from ..workflows import change as change_workflow
from .applications import ApplicationPortalView, ProofSlot

MOBILE = re.compile(r"^1[3-9]\d{9}$")


def mobile_number(form: Any, field: Any) -> None:
    if field.data and not MOBILE.match(field.data.strip()):
        raise ValidationError(_l("Please enter an 11-digit mobile number"))


class ChangeRequestForm(FlaskForm):
    """修改信息: the profile as it should be (the 统一社会信用代码 is shown, never a field)."""

    name = StringField(
        _l("Enterprise name"), validators=[DataRequired(_l("Please enter the enterprise name")), Length(max=200)]
    )
    legal_person = StringField(_l("Legal representative"), validators=[Optional(), Length(max=50)])
    registered_capital = DecimalField(
        _l("Registered capital (10k CNY)"),
        places=2,
        validators=[Optional(), NumberRange(min=0, max=999999999, message=_l("Must not be negative"))],
    )
    address = StringField(_l("Address"), validators=[Optional(), Length(max=300)])
    contact_person = StringField(_l("Contact person"), validators=[Optional(), Length(max=50)])
    mobile = StringField(_l("Contact mobile"), validators=[Optional(), mobile_number])
    landline = StringField(_l("Enterprise landline"), validators=[Optional(), Length(max=30)])
    email = StringField(
        _l("E-mail"), validators=[Optional(), Email(_l("Please enter a valid e-mail address")), Length(max=320)]
    )
    business_scope = TextAreaField(_l("Business scope"), validators=[Optional(), Length(max=2000)])
    explanation = TextAreaField(_l("Reason for the change"), validators=[Optional(), Length(max=2000)])


class ChangeRequestView(ApplicationPortalView):
    route_base = "/change"
    class_permission_name = "ChangeRequest"
    kind = change_workflow.KIND
    form_class = ChangeRequestForm
    form_fields = (*PROFILE_FIELDS, "explanation")
    title = _l("Information change")
    msg_submitted = _l("Your change request has been submitted; the association will review it")
    index_template = "change/index.html"
    form_template = "change/form.html"
    detail_template = "change/detail.html"

    def form_values(self, form: Any) -> dict[str, Any]:
        values = {}
        for name in self.form_fields:
            value = getattr(form, name).data
            values[name] = value.strip() or None if isinstance(value, str) else value
        return values

    def prefill(self, form: Any, enterprise: Any) -> None:
        for name in PROFILE_FIELDS:
            getattr(form, name).data = getattr(enterprise, name)

    def refusal_before_apply(self) -> str | None:
        probe = self.model(enterprise_id=g.user.enterprise_id)
        return change_workflow.no_other_open_change(probe, g.user)

    def index_context(self) -> dict[str, Any]:
        enterprise = get_scoped_or_404(Enterprise, g.user.enterprise_id)
        return {
            "enterprise": enterprise,
            "profile_history": change_workflow.history(enterprise.id),
            "field_labels": change_workflow.FIELD_LABELS,
        }

    # --- the form with its proofs ---------------------------------------------------------------

    form_title = _l("Change information")
    upload_purpose = "change_proof"

    def proof_slots(self) -> list[ProofSlot]:
        """One input per proof the rules know; which are needed depends on the fields changed."""
        labels = change_workflow.FIELD_LABELS
        return [
            ProofSlot(f"proof_{index}", name, name, tuple(str(labels[f]) for f in fields), required=False)
            for index, (name, fields) in enumerate(change_workflow.proof_requirements())
        ]

    def check(self, values: dict[str, Any], uploads: dict[str, Any], record: Any = None) -> str | None:
        """Why these values cannot be sent (nothing changed, a proof missing), or None."""
        probe = self.model(enterprise_id=g.user.enterprise_id, **{f: values[f] for f in PROFILE_FIELDS})
        fields = change_workflow.changed_fields(probe)
        if not fields:
            return _("Nothing has been changed: change at least one item of the profile")
        held = {f.requirement for f in record.files} if record is not None else set()
        missing = [n for n in change_workflow.proofs_needed(fields) if n not in uploads and n not in held]
        if missing:
            return _("Please upload: %(names)s", names="、".join(missing))
        return None

    def form_context(self, record: Any) -> dict[str, Any]:
        return super().form_context(record) | {"enterprise": get_scoped_or_404(Enterprise, g.user.enterprise_id)}

    def detail_context(self, record: Any) -> dict[str, Any]:
        marked = []
        if record.status == "approved" and any(f in ("name", "address") for f, *_rest in self._changes(record)):
            marked = change_workflow.certificates_to_reissue(record.enterprise_id)
        return {"reissue_certificates": marked}

    def _changes(self, record: Any) -> list:
        return change_workflow.fields_context(record)["changes"]

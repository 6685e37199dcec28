"""外省企业备案 (manual chapter 十三): 点击外省企业备案 → 申请备案 → 填写登记表 → 提交 → 查看 → 备案证明下载.

What is filing's own on top of the generic application pages: the 登记表 with its upload and its
project rows, the enterprise basics shown read-only, and the filing certificates on the index.
"""

from __future__ import annotations

from typing import Any

from flask import g, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import select
from wtforms import DateField, DecimalField, FieldList, Form, FormField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from .. import db
from ..certificates import STATUSES
from ..forms import phone_rule
from ..models import Certificate
from ..scoping import scoped
from ..uploads import UploadRejected, save_upload
from ..workflows.filing import KIND, current_filing, no_other_open_filing, renewal_opens_on
from .applications import ApplicationPortalView

MAX_PROJECTS = 30


class ProjectRowForm(Form):
    """One project in the province; a row left entirely blank is ignored."""

    name = StringField(_l("Project name"), validators=[Optional(), Length(max=200)])
    city = StringField(_l("City"), validators=[Optional(), Length(max=30)])
    contract_value = DecimalField(
        _l("Contract value (10k CNY)"),
        places=2,
        validators=[Optional(), NumberRange(min=0, message=_l("Must not be negative"))],
    )
    start_on = DateField(_l("Start date"), validators=[Optional()])
    end_on = DateField(_l("End date"), validators=[Optional()])

    def is_blank(self) -> bool:
        return not any((field.raw_data or [""])[0].strip() for field in self)


class FilingForm(FlaskForm):
    """外省企业备案登记表."""

    home_qualification = StringField(
        _l("Qualification in the home province (name and level)"),
        validators=[DataRequired(_l("Please enter the qualification held in the home province")), Length(max=200)],
    )
    home_certificate_number = StringField(_l("Its certificate number"), validators=[Optional(), Length(max=60)])
    home_certificate = FileField(_l("Qualification certificate of the home province (image or PDF)"))
    person_in_charge = StringField(
        _l("Person in charge"),
        validators=[DataRequired(_l("Please enter the person in charge")), Length(max=50)],
    )
    person_in_charge_phone = StringField(
        _l("Phone of the person in charge"),
        validators=[DataRequired(_l("Please enter a mobile number")), phone_rule],
    )
    projects = FieldList(FormField(ProjectRowForm), min_entries=1, max_entries=MAX_PROJECTS)

    # Set by the view: a new 登记表 needs the certificate; an edit keeps the stored one unless replaced.
    file_required = True
    stored_file: Any = None

    def validate_home_certificate(self, field) -> None:
        upload = request.files.get(field.name)
        if upload is None or not upload.filename:
            if self.file_required:
                raise ValidationError(_l("Please upload the qualification certificate of the home province"))
            return
        try:
            self.stored_file = save_upload(
                upload, purpose="filing_home_certificate", enterprise_id=g.user.enterprise_id, uploaded_by_id=g.user.id
            )
        except UploadRejected as error:
            raise ValidationError(error.message) from error

    def validate_projects(self, field) -> None:
        filled = 0
        for row in field:
            if row.form.is_blank():
                continue
            filled += 1
            for name in ("name", "city", "contract_value", "start_on"):
                sub = getattr(row.form, name)
                if sub.data in (None, "") and not sub.errors:
                    sub.errors = [*sub.errors, str(_l("Required"))]
            if row.form.start_on.data and row.form.end_on.data and row.form.end_on.data < row.form.start_on.data:
                row.form.end_on.errors = [*row.form.end_on.errors, str(_l("The end date is before the start date"))]
            if any(sub.errors for sub in row.form):
                raise ValidationError(_l("Please complete the project rows"))
        if not filled:
            raise ValidationError(_l("Please enter at least one project in the province"))

    def project_rows(self) -> list[dict]:
        return [
            {
                "name": row.form.name.data.strip(),
                "city": row.form.city.data.strip(),
                "contract_value": row.form.contract_value.data,
                "start_on": row.form.start_on.data,
                "end_on": row.form.end_on.data,
            }
            for row in self.projects
            if not row.form.is_blank()
        ]


class FilingView(ApplicationPortalView):
    route_base = "/filing"
    class_permission_name = "Filing"
    kind = KIND
    form_class = FilingForm
    form_fields = ("home_qualification", "home_certificate_number", "person_in_charge", "person_in_charge_phone")
    title = _l("Apply for filing")
    msg_submitted = _l("Your filing has been submitted; the association will review it")
    index_template = "filing/index.html"
    detail_template = "filing/detail.html"
    form_template = "filing/form.html"

    def make_form(self, record: Any = None) -> Any:
        form = super().make_form(record)  # editing: the project rows come from record.projects
        form.file_required = record is None
        return form

    def form_values(self, form: Any) -> dict[str, Any]:
        values = {name: (getattr(form, name).data or "").strip() or None for name in self.form_fields}
        if form.stored_file is not None:
            values["home_certificate_file_id"] = form.stored_file.id
        values["project_rows"] = form.project_rows()
        return values

    def prefill(self, form: Any, enterprise: Any) -> None:
        form.person_in_charge.data = enterprise.contact_person
        form.person_in_charge_phone.data = enterprise.mobile

    def refusal_before_apply(self) -> str | None:
        return no_other_open_filing(self.model(enterprise_id=g.user.enterprise_id), g.user)

    def index_context(self) -> dict[str, Any]:
        certificates = db.session.scalars(
            scoped(select(Certificate).where(Certificate.kind == KIND), Certificate).order_by(
                Certificate.valid_from.desc(), Certificate.id.desc()
            )
        ).all()
        held = current_filing(g.user.enterprise_id)
        return {
            "certificates": certificates,
            "held": held,
            "renewal_opens": renewal_opens_on(held) if held is not None else None,
            "refusal": self.refusal_before_apply(),
            "statuses": STATUSES,
        }

    def detail_context(self, record: Any) -> dict[str, Any]:
        return {"enterprise": record.enterprise}


# Portal views for enterprises registered in the province (their class_permission_name): an
# out-of-province account holds no permission on them (app/roles.py) and is told why here.
IN_PROVINCE_ONLY = frozenset({"Membership", "Qualification", "MyCertificates"})


def _in_province_view_names() -> frozenset[str]:
    from flask import current_app

    return frozenset(
        type(view).__name__
        for view in current_app.appbuilder.baseviews
        if getattr(view, "class_permission_name", None) in IN_PROVINCE_ONLY
    )


def refuse_out_of_province():
    """Before each request: an out-of-province account opening a membership or qualification page is
    refused on the server and sent to 外省企业备案 with the reason (the permission is missing as well)."""
    from flask import flash, redirect, url_for
    from flask_login import current_user

    view_name = (request.endpoint or "").partition(".")[0]
    if not view_name or not getattr(current_user, "is_authenticated", False):
        return None
    if not any(role.name == "OutOfProvinceEnterprise" for role in current_user.roles):
        return None
    if view_name not in _in_province_view_names():
        return None
    flash(
        _(
            "Membership and qualification are for enterprises registered in the province; "
            "an out-of-province enterprise uses Out-of-province filing"
        ),
        "warning",
    )
    return redirect(url_for("FilingView.index"))

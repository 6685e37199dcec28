"""资质配置 and 证书管理 in the back office: levels, staffing rule lines and materials as data
(AssociationAdmin edits them; a submitted application keeps its snapshot), and the certificate
register with suspend / revoke / reinstate."""

from __future__ import annotations

import datetime as dt

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, ModelView, expose, has_access
from flask_appbuilder.fields import QuerySelectField
from flask_appbuilder.fieldwidgets import Select2Widget
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import contains_eager
from wtforms import SelectField
from wtforms.validators import ValidationError

from .. import certificates, db, qualification, regions
from ..audit import AuditedModelViewMixin
from ..lists import (
    Column,
    CsvExportMixin,
    Field,
    contains_text,
    described_filters,
    export_csv,
    joined_text,
    labelled,
    page_size,
    paginate,
)
from ..models import Certificate, Enterprise, MaterialRequirement, QualificationLevel, StaffingRule
from ..notify import notify_enterprise
from ..scoping import ScopedActionsMixin, get_scoped_or_404, scoped
from .common import checkboxes, page_number

PAGE_SIZE = 50
APPLICATION_KINDS = [
    ("", _l("Every qualification type")),
    ("qualification_new", _l("Qualification application")),
    ("qualification_annual", _l("Annual review")),
    ("qualification_upgrade", _l("Qualification upgrade")),
    ("qualification_downgrade", _l("Qualification downgrade")),
    ("qualification_renewal", _l("Certificate renewal")),
]
# action -> (allowed from, to status, history event, notice subject)
CERTIFICATE_ACTIONS = {
    "suspend": (("valid",), "suspended", "suspended", _l("certificate suspended")),
    "revoke": (("valid", "suspended"), "revoked", "revoked", _l("certificate revoked")),
    "reinstate": (("suspended",), "valid", "reinstated", _l("certificate reinstated")),
}


def _yes_no(value) -> str:
    return _("Yes") if value else _("No")


def _blank(value) -> str:
    return "" if value is None else str(value)


def _positive(field, allow_none=True) -> None:
    if field.data is None:
        if not allow_none:
            raise ValidationError(_("Required"))
        return
    if field.data < 0:
        raise ValidationError(_("Must not be negative"))


class QualificationLevelView(CsvExportMixin, AuditedModelViewMixin, ScopedActionsMixin, ModelView):
    datamodel = SQLAInterface(QualificationLevel)
    route_base = "/backoffice/qualification/levels"
    class_permission_name = "QualificationLevelConfig"
    include_route_methods = {"list", "show", "add", "edit"}
    list_title = show_title = add_title = edit_title = _l("Qualification levels")
    list_columns = ["rank", "name", "validity_years", "min_registered_capital", "iso9001_required", "active"]
    add_columns = edit_columns = show_columns = [
        "code",
        "name",
        "rank",
        "validity_years",
        "min_registered_capital",
        "min_office_area",
        "project_years",
        "min_project_value",
        "min_project_count",
        "large_project_value",
        "min_large_projects",
        "iso9001_required",
        "years_held_before_upgrade",
        "active",
    ]
    search_columns = ["name", "code"]
    base_order = ("rank", "desc")
    formatters_columns = {
        "iso9001_required": _yes_no,
        "active": _yes_no,
        "min_registered_capital": _blank,
        "min_office_area": _blank,
        "min_project_value": _blank,
        "min_project_count": _blank,
        "large_project_value": _blank,
        "min_large_projects": _blank,
    }
    label_columns = {
        "code": _l("Code"),
        "name": _l("Level"),
        "rank": _l("Rank (higher is a higher level)"),
        "validity_years": _l("Validity (years)"),
        "min_registered_capital": _l("Registered capital at least (10k CNY)"),
        "min_office_area": _l("Office area at least (㎡)"),
        "project_years": _l("Projects counted over (years)"),
        "min_project_value": _l("Completed project value at least (10k CNY)"),
        "min_project_count": _l("Completed projects at least"),
        "large_project_value": _l("Large project: value at least (10k CNY)"),
        "min_large_projects": _l("Large projects at least"),
        "iso9001_required": _l("ISO 9001 required"),
        "years_held_before_upgrade": _l("Years the lower level is held before 晋级"),
        "active": _l("In use"),
    }
    validators_columns = {
        "validity_years": [lambda form, field: _positive(field, allow_none=False)],
        "min_registered_capital": [lambda form, field: _positive(field)],
        "min_office_area": [lambda form, field: _positive(field)],
        "min_project_value": [lambda form, field: _positive(field)],
        "years_held_before_upgrade": [lambda form, field: _positive(field, allow_none=False)],
    }
    add_form_extra_fields = edit_form_extra_fields = checkboxes(
        label_columns, "iso9001_required", "active", ticked=("active",)
    )


class StaffingRuleView(CsvExportMixin, AuditedModelViewMixin, ScopedActionsMixin, ModelView):
    datamodel = SQLAInterface(StaffingRule)
    route_base = "/backoffice/qualification/rules"
    class_permission_name = "StaffingRuleConfig"
    include_route_methods = {"list", "show", "add", "edit", "delete"}
    list_title = show_title = add_title = edit_title = _l("Staffing rule lines")
    list_columns = ["level", "description", "sort_order"]
    add_columns = edit_columns = show_columns = [
        "level",
        "min_count",
        "requires_credential",
        "titles",
        "positions",
        "training_passed",
        "certificate_kind",
        "certificate_grade",
        "min_insurance_months",
        "sort_order",
    ]
    search_columns = ["level"]
    base_order = ("level_id", "asc")
    formatters_columns = {
        "requires_credential": _yes_no,
        "training_passed": _yes_no,
        "titles": _blank,
        "positions": _blank,
        "certificate_kind": _blank,
        "certificate_grade": _blank,
        "min_insurance_months": _blank,
    }
    description_columns = {
        "titles": _l("Comma-separated 职称; the person must hold one of them (empty: any)"),
        "positions": _l("Comma-separated 岗位; the person must hold one of them (empty: any)"),
        "certificate_kind": _l("The person holds a valid certificate whose name contains this text"),
    }
    label_columns = {
        "level": _l("Level"),
        "description": _l("Rule line"),
        "min_count": _l("At least (people)"),
        "requires_credential": _l("With a title, a professional certificate or a passed training"),
        "titles": _l("Titles"),
        "positions": _l("Positions"),
        "training_passed": _l("Passed training required"),
        "certificate_kind": _l("Professional certificate"),
        "certificate_grade": _l("Certificate grade"),
        "min_insurance_months": _l("Social insurance with the enterprise at least (months)"),
        "sort_order": _l("Order"),
    }
    validators_columns = {"min_count": [lambda form, field: _positive(field, allow_none=False)]}
    add_form_extra_fields = edit_form_extra_fields = checkboxes(label_columns, "requires_credential", "training_passed")


class MaterialRequirementView(CsvExportMixin, AuditedModelViewMixin, ScopedActionsMixin, ModelView):
    datamodel = SQLAInterface(MaterialRequirement)
    route_base = "/backoffice/qualification/materials"
    class_permission_name = "MaterialConfig"
    include_route_methods = {"list", "show", "add", "edit"}
    list_title = show_title = add_title = edit_title = _l("Review materials")
    list_columns = ["name", "level", "application_kind", "required", "accept", "max_mb", "active"]
    add_columns = edit_columns = show_columns = [
        "code",
        "name",
        "level",
        "application_kind",
        "required",
        "accept",
        "max_mb",
        "help_text",
        "sort_order",
        "active",
    ]
    search_columns = ["name", "level"]
    base_order = ("sort_order", "asc")
    add_form_extra_fields = edit_form_extra_fields = {
        # FAB's own field shows its blank choice as "__None"; this one says 全部等级.
        "level": QuerySelectField(
            _l("Level (empty: every level)"),
            query_func=lambda: db.session.scalars(select(QualificationLevel).order_by(QualificationLevel.rank)).all(),
            get_pk_func=lambda level: level.id,
            allow_blank=True,
            blank_text=_l("Every level"),
            widget=Select2Widget(),
        ),
        "application_kind": SelectField(
            _l("Application type"), choices=APPLICATION_KINDS, default="", render_kw={"class": "form-control"}
        ),
        "accept": SelectField(
            _l("Accepted files"),
            choices=[("image,pdf", _l("JPG, PNG or PDF")), ("pdf", _l("PDF")), ("image", _l("JPG or PNG image"))],
            default="image,pdf",
            render_kw={"class": "form-control"},
        ),
    }
    formatters_columns = {
        "required": _yes_no,
        "active": _yes_no,
        "level": lambda level: str(level) if level else str(_l("Every level")),
        "application_kind": lambda kind: str(dict(APPLICATION_KINDS).get(kind or "", kind)),
        "accept": lambda accept: {
            "image,pdf": _("JPG, PNG or PDF"),
            "pdf": _("PDF"),
            "image": _("JPG or PNG image"),
        }.get(accept, accept),
        "help_text": _blank,
    }
    label_columns = {
        "code": _l("Code"),
        "name": _l("Material"),
        "level": _l("Level (empty: every level)"),
        "application_kind": _l("Application type"),
        "required": _l("Required"),
        "accept": _l("Accepted files"),
        "max_mb": _l("At most (MB)"),
        "help_text": _l("Help text"),
        "sort_order": _l("Order"),
        "active": _l("In use"),
    }
    add_form_extra_fields = edit_form_extra_fields = {
        **add_form_extra_fields,
        **checkboxes(label_columns, "required", "active", ticked=("required", "active")),
    }

    def pre_add(self, item):
        item.application_kind = item.application_kind or None
        super().pre_add(item)

    def pre_update(self, item):
        item.application_kind = item.application_kind or None
        super().pre_update(item)


def certificate_columns() -> list[Column]:
    names = qualification.level_names()
    return [
        Column("number", _l("Certificate number"), lambda c: c.number),
        Column("kind", _l("Certificate"), lambda c: str(certificates.KINDS.get(c.kind, c.kind))),
        Column("holder", _l("Holder"), lambda c: c.holder_name),
        Column("credit_code", _l("Unified social credit code"), lambda c: c.enterprise.credit_code),
        Column("region", _l("Region"), lambda c: f"{c.enterprise.province} {c.enterprise.city}"),
        Column("level", _l("Level"), lambda c: names.get(c.level, "") if c.level else ""),
        Column("valid_from", _l("Valid from"), lambda c: c.valid_from),
        Column("valid_until", _l("Valid until"), lambda c: c.valid_until),
        Column("status", _l("Status"), lambda c: str(certificates.STATUSES.get(c.status, c.status))),
    ]


def certificate_export_fields() -> list[Field]:
    names = qualification.level_names()
    return [
        Field(_l("Certificate number"), Certificate.number),
        Field(_l("Certificate"), Certificate.kind, labelled(certificates.KINDS)),
        Field(_l("Holder"), Certificate.holder_name),
        Field(_l("Unified social credit code"), Enterprise.credit_code),
        Field(
            _l("Region"),
            joined_text(Enterprise.province, Enterprise.city),
        ),
        Field(_l("Level"), Certificate.level, labelled(names)),
        Field(_l("Valid from"), Certificate.valid_from),
        Field(_l("Valid until"), Certificate.valid_until),
        Field(_l("Status"), Certificate.status, labelled(certificates.STATUSES)),
    ]


class CertificateAdminView(BaseView):
    """证书管理: every certificate, filtered; AssociationAdmin suspends, revokes or reinstates with a reason."""

    route_base = "/backoffice/certificates"
    class_permission_name = "CertificateAdmin"
    default_view = "index"

    def _filtered(self):
        args = request.args
        query = (
            select(Certificate)
            .join(Enterprise, Enterprise.id == Certificate.enterprise_id)
            .options(contains_eager(Certificate.enterprise))
        )
        kind = args.get("kind", "qualification")
        if kind in certificates.KINDS:
            query = query.where(Certificate.kind == kind)
        if args.get("level"):
            query = query.where(Certificate.level == args["level"])
        if args.get("status") in certificates.STATUSES:
            query = query.where(Certificate.status == args["status"])
        if args.get("province"):
            query = query.where(Enterprise.region_code.startswith(args["province"]))
        days = args.get("expiring", "")
        if days.isdigit() and len(days) <= 5:
            today = qualification.today()
            query = query.where(
                Certificate.status == "valid",
                Certificate.valid_until >= today,
                Certificate.valid_until <= today + dt.timedelta(days=int(days)),
            )
        if args.get("q"):
            needle = args["q"].strip()
            query = query.where(
                contains_text(Certificate.number, needle)
                | contains_text(Enterprise.name, needle)
                | (Enterprise.credit_code == needle)
            )
        return scoped(query, Certificate), (Certificate.valid_until.asc(), Certificate.id.asc())

    @expose("/")
    @has_access
    def index(self):
        query, order = self._filtered()
        page = paginate(query, order, page_number(), page_size(PAGE_SIZE))
        return self.render_template(
            "qualification/admin_certificates.html",
            page=page,
            columns=certificate_columns(),
            args=request.args,
            kinds=certificates.KINDS,
            statuses=certificates.STATUSES,
            levels=db.session.scalars(select(QualificationLevel).order_by(QualificationLevel.rank.desc())).all(),
            provinces=[(p.code, p.name) for p in regions.tree().values()],
        )

    @expose("/csv")
    @has_access
    def csv(self):
        query, order = self._filtered()
        filters = described_filters(
            {
                "kind": (_l("Certificate type"), {"all": _("All certificates"), **certificates.KINDS}),
                "level": (_l("Level"), qualification.level_names()),
                "status": (_l("Status"), certificates.STATUSES),
                "province": (_l("Province"), {p.code: p.name for p in regions.tree().values()}),
                "expiring": (_l("Expiring within"), lambda days: f"{days} {_('days')}"),
                "q": (_l("Search"), None),
            }
        )
        return export_csv(certificate_export_fields(), query, str(_l("Certificates")), filters, order)

    @expose("/<int:certificate_id>")
    @has_access
    def detail(self, certificate_id: int):
        certificate = get_scoped_or_404(Certificate, certificate_id)
        events = certificates.history(certificate.id)
        may_manage = self.appbuilder.sm.has_access("can_act", self.class_permission_name)
        actions = [
            (name, label)
            for name, label in (("suspend", _l("Suspend")), ("revoke", _l("Revoke")), ("reinstate", _l("Reinstate")))
            if may_manage and certificate.status in CERTIFICATE_ACTIONS[name][0]
        ]
        return self.render_template(
            "qualification/admin_certificate.html",
            certificate=certificate,
            events=events,
            actions=actions,
            statuses=certificates.STATUSES,
            level_names=qualification.level_names(),
        )

    @expose("/<int:certificate_id>/act", methods=["POST"])
    @has_access
    def act(self, certificate_id: int):
        """暂停 / 撤销 / 恢复 with a reason: audited, in the certificate's history, told to the enterprise."""
        certificate = get_scoped_or_404(Certificate, certificate_id)
        action = request.form.get("action", "")
        if action not in CERTIFICATE_ACTIONS:
            abort(400)
        sources, target, event, notice = CERTIFICATE_ACTIONS[action]
        reason = (request.form.get("reason") or "").strip()
        if not reason:
            flash(_("Please give the reason"), "danger")
        elif certificate.status not in sources:
            flash(
                _("Not possible while the certificate is “%(state)s”", state=certificates.STATUSES[certificate.status]),
                "danger",
            )
        else:
            moved = db.session.execute(
                Certificate.__table__.update()
                .where(Certificate.id == certificate.id, Certificate.status == certificate.status)
                .values(changed_on=db.func.now())
            )
            if moved.rowcount != 1:
                db.session.rollback()
                flash(_("This certificate has just been changed by someone else; please reload the page"), "danger")
            else:
                certificates.change_status(certificate, target, event, reason, g.user)
                db.session.commit()
                notify_enterprise(
                    certificate.enterprise_id,
                    _("Certificate %(number)s: %(event)s", number=certificate.number, event=notice),
                    _("Reason: %(comment)s", comment=reason),
                )
                flash(_("Done"), "success")
        return redirect(url_for("CertificateAdminView.detail", certificate_id=certificate.id))

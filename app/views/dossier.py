"""企业档案: the enterprises list with one search box, and one read-only page per enterprise gathering its
profile history, accounts, memberships, certificates, applications, staff, messages and files — each
section bounded to its latest rows plus a count, and linked to its full list."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import has_request_context, request
from flask_appbuilder import ModelView, expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import joinedload

from .. import certificates, db
from ..lists import CsvExportMixin, contains_text, joined_text, plain
from ..models import (
    Application,
    Certificate,
    CertificateEvent,
    Enrollment,
    Enterprise,
    Membership,
    Notification,
    PlatformUser,
    ProfileChange,
    StoredFile,
    TechnicalStaff,
)
from ..notify import CHANNELS, RESULTS
from ..qualification import level_names
from ..scoping import ScopedActionsMixin, get_scoped_or_404
from ..training import ENROLLMENT_STATES
from ..workflows import REGISTRY
from ..workflows.change import FIELD_LABELS

SECTION_ROWS = 10  # latest rows a dossier section shows; the count and the section's list tell the rest
SEARCH_MAX = 100


def search_condition(text: str) -> Any:
    """Enterprises matching one search box: name (part of it), credit code, phone (the enterprise's or an
    account's), member number or certificate number (exact)."""
    needle = text.strip()[:SEARCH_MAX]
    return or_(
        contains_text(Enterprise.name, needle),
        Enterprise.credit_code == needle.upper(),
        Enterprise.mobile == needle,
        Enterprise.landline == needle,
        exists().where(PlatformUser.enterprise_id == Enterprise.id, PlatformUser.phone == needle),
        # member numbers are the numbers of membership certificates in the register
        exists().where(Certificate.enterprise_id == Enterprise.id, Certificate.number == needle),
    )


class EnterpriseSearchInterface(SQLAInterface):
    """FAB's data interface with the list's `?q=` search applied wherever FAB filters: the page, its
    count and the CSV export alike."""

    def apply_filters(self, query, filters):
        query = super().apply_filters(query, filters)
        text = request.args.get("q", "").strip() if has_request_context() else ""
        return query.filter(search_condition(text)) if text else query


@dataclass
class Section:
    """One bounded part of a dossier: its latest rows, how many there are in all, and its full list."""

    rows: list[Any]
    count: int
    link: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def file_size(size: int) -> str:
    if size < 1024:
        return _("%(n)s bytes", n=size)
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def _latest(statement, order, limit: int = SECTION_ROWS) -> list[Any]:
    return list(db.session.scalars(statement.order_by(*order).limit(limit)).unique())


def _url(endpoint: str, **values: Any) -> str | None:
    """A list's address, or None when that list is not part of this installation."""
    from flask import url_for
    from werkzeug.routing import BuildError

    try:
        return url_for(endpoint, **values)
    except BuildError:
        return None


def _count(model: type, *conditions: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0


class EnterpriseDossierView(CsvExportMixin, ScopedActionsMixin, ModelView):
    """Read-only enterprise dossiers for association staff (changes go through 信息变更 review)."""

    datamodel = EnterpriseSearchInterface(Enterprise)
    route_base = "/backoffice/enterprises"
    class_permission_name = "EnterpriseDossier"
    include_route_methods = {"list", "show"}
    list_template = "dossier/list.html"
    list_title = _l("Enterprise dossiers")
    show_title = _l("Enterprise dossiers")
    list_columns = ["name", "credit_code", "region_label", "contact_person", "mobile", "created_on"]
    show_columns = [
        "name",
        "credit_code",
        "legal_person",
        "registered_capital",
        "founded_on",
        "address",
        "province",
        "city",
        "district",
        "contact_person",
        "mobile",
        "landline",
        "email",
        "business_scope",
        "created_on",
        "changed_on",
    ]
    search_columns = ["name", "credit_code", "province", "city", "contact_person", "mobile"]
    order_columns = ["name", "credit_code", "created_on"]
    csv_exprs = {
        "region_label": lambda: joined_text(Enterprise.province, Enterprise.city, Enterprise.district),
    }
    base_order = ("created_on", "desc")
    formatters_columns = {
        "created_on": lambda value: format_datetime(value, "yyyy-MM-dd HH:mm") if value else "",
        "changed_on": lambda value: format_datetime(value, "yyyy-MM-dd HH:mm") if value else "",
    }
    label_columns = {
        "name": _l("Enterprise name"),
        "credit_code": _l("Unified social credit code"),
        "legal_person": _l("Legal representative"),
        "registered_capital": _l("Registered capital (10k CNY)"),
        "founded_on": _l("Founding date"),
        "address": _l("Address"),
        "region_label": _l("Enterprise region"),
        "province": _l("Province"),
        "city": _l("City"),
        "district": _l("District"),
        "contact_person": _l("Contact person"),
        "mobile": _l("Contact mobile"),
        "landline": _l("Enterprise landline"),
        "email": _l("E-mail"),
        "business_scope": _l("Business scope"),
        "created_on": _l("Registered on"),
        "changed_on": _l("Updated"),
    }

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        enterprise = get_scoped_or_404(Enterprise, pk if str(pk).isdigit() else 0)
        return self.render_template(
            "dossier/show.html",
            title=self.show_title,
            enterprise=enterprise,
            profile=[(self.label_columns[name], plain(getattr(enterprise, name))) for name in self.show_columns],
            field_labels=FIELD_LABELS,
            registry=REGISTRY,
            certificate_kinds=certificates.KINDS,
            certificate_statuses=certificates.STATUSES,
            level_names=level_names(),
            enrollment_states=ENROLLMENT_STATES,
            channels=CHANNELS,
            file_size=file_size,
            results=RESULTS,
            sections=dossier_sections(enterprise),
            may=lambda permission, view: self.appbuilder.sm.has_access(permission, view),
        )


def dossier_sections(enterprise: Enterprise) -> dict[str, Section]:
    """Every section of the dossier, two bounded queries each (latest rows, count)."""
    from flask import url_for

    eid = enterprise.id
    code = enterprise.credit_code
    sections: dict[str, Section] = {}

    sections["changes"] = Section(
        _latest(select(ProfileChange).where(ProfileChange.enterprise_id == eid), (ProfileChange.id.desc(),)),
        _count(ProfileChange, ProfileChange.enterprise_id == eid),
        url_for("AuditLogView.list", _flt_3_object_type="Enterprise", _flt_3_object_id=str(eid)),
        {"requests": url_for("ReviewQueueView.queue", kind="change", status="all", enterprise=code)},
    )
    sections["accounts"] = Section(
        _latest(
            select(PlatformUser).where(PlatformUser.enterprise_id == eid).options(joinedload(PlatformUser.roles)),
            (PlatformUser.id.asc(),),
        ),
        _count(PlatformUser, PlatformUser.enterprise_id == eid),
    )
    sections["memberships"] = Section(
        _latest(
            select(Membership).where(Membership.enterprise_id == eid).options(joinedload(Membership.tier)),
            (Membership.valid_from.desc(), Membership.id.desc()),
        ),
        _count(Membership, Membership.enterprise_id == eid),
        url_for("CertificateAdminView.index", kind="membership", q=code),
    )
    latest_certificates = _latest(
        select(Certificate).where(Certificate.enterprise_id == eid), (Certificate.issued_on.desc(), Certificate.id.desc())
    )
    events: dict[int, list[CertificateEvent]] = {}
    if latest_certificates:
        for event in db.session.scalars(
            select(CertificateEvent)
            .where(CertificateEvent.certificate_id.in_([c.id for c in latest_certificates]))
            .order_by(CertificateEvent.id.desc())
            .limit(SECTION_ROWS * 5)
        ):
            events.setdefault(event.certificate_id, []).append(event)
    sections["certificates"] = Section(
        latest_certificates,
        _count(Certificate, Certificate.enterprise_id == eid),
        url_for("CertificateAdminView.index", kind="all", q=code),
        {"events": events},
    )

    by_kind = dict(
        db.session.execute(
            select(Application.kind, func.count()).where(Application.enterprise_id == eid).group_by(Application.kind)
        ).all()
    )
    sections["applications"] = Section(
        _latest(select(Application).where(Application.enterprise_id == eid), (Application.id.desc(),)),
        sum(by_kind.values()),
        None,
        {
            "by_kind": by_kind,
            "links": {
                kind: url_for("ReviewQueueView.queue", kind=kind, status="all", enterprise=code) for kind in REGISTRY
            },
        },
    )
    active_staff = TechnicalStaff.archived.is_(False)
    sections["staff"] = Section(
        _latest(
            select(TechnicalStaff).where(TechnicalStaff.enterprise_id == eid, active_staff), (TechnicalStaff.id.desc(),), 5
        ),
        _count(TechnicalStaff, TechnicalStaff.enterprise_id == eid, active_staff),
        url_for("StaffSearchView.search", q=enterprise.name),
    )
    sections["enrollments"] = Section(
        _latest(
            select(Enrollment)
            .where(Enrollment.enterprise_id == eid)
            .options(joinedload(Enrollment.batch), joinedload(Enrollment.staff)),
            (Enrollment.id.desc(),),
            5,
        ),
        _count(Enrollment, Enrollment.enterprise_id == eid),
        url_for("EnrollmentAdminView.overview"),
    )
    by_channel = dict(
        db.session.execute(
            select(Notification.channel, func.count())
            .where(Notification.enterprise_id == eid)
            .group_by(Notification.channel)
        ).all()
    )
    sections["messages"] = Section(
        _latest(select(Notification).where(Notification.enterprise_id == eid), (Notification.id.desc(),)),
        sum(by_channel.values()),
        _url("NotificationAdminView.index", enterprise=code),
        {"by_channel": by_channel},
    )
    sections["files"] = Section(
        _latest(select(StoredFile).where(StoredFile.enterprise_id == eid), (StoredFile.id.desc(),)),
        _count(StoredFile, StoredFile.enterprise_id == eid),
    )
    return sections

"""What the portal home tells an enterprise: its membership, certificates and their next deadline,
applications in progress with the step expected from it, unread messages and staff — in a fixed
number of queries, whatever the enterprise holds."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select

from . import db
from .models import Application, Certificate, Notification, TechnicalStaff
from .workflows import REGISTRY, state_label

# What the enterprise has to do next, by state; states not listed wait for the association.
NEXT_STEPS = {
    "draft": _l("Complete the application and submit it"),
    "returned": _l("Correct what the association asked for and submit again"),
    "approved": _l("Choose how the certificate is delivered and pay the fee"),
    "payment_returned": _l("Upload the transfer screenshot again"),
}


@dataclass
class OpenApplication:
    id: int
    label: str
    state: str
    next_step: str
    enterprise_acts: bool
    url: str | None


def detail_endpoints() -> dict[str, str]:
    """Application kind -> the portal endpoint showing one application of that kind."""
    endpoints = {kind: w.portal_endpoint for kind, w in REGISTRY.items() if w.portal_endpoint}
    for view in current_app.appbuilder.baseviews:
        kind = getattr(view, "kind", None)
        if kind in REGISTRY and hasattr(view, "endpoint_for"):
            endpoints.setdefault(kind, view.endpoint_for("detail"))
    return endpoints


def next_step(record: Application) -> tuple[str, bool]:
    """(what happens next, whether it is up to the enterprise)."""
    workflow = REGISTRY[record.kind]
    if record.status == "approved" and "pay" not in workflow.by_name:
        return _("Waiting for the association"), False
    if record.status in NEXT_STEPS:
        return str(NEXT_STEPS[record.status]), True
    return _("Waiting for the association"), False


def open_applications(enterprise_id: int) -> list[OpenApplication]:
    from flask import url_for

    still_open = or_(
        *(
            and_(Application.kind == kind, Application.status.not_in(workflow.final_states))
            for kind, workflow in REGISTRY.items()
        )
    )
    rows = db.session.execute(
        select(Application.id, Application.kind, Application.status)
        .where(Application.enterprise_id == enterprise_id, still_open)
        .order_by(Application.id.desc())
        .limit(20)
    ).all()
    endpoints = detail_endpoints() if rows else {}
    items = []
    for row in rows:
        workflow = REGISTRY.get(row.kind)
        if workflow is None or row.status in workflow.final_states:
            continue
        step, enterprise_acts = next_step(row)
        endpoint = endpoints.get(row.kind)
        items.append(
            OpenApplication(
                id=row.id,
                label=str(workflow.label),
                state=state_label(row.status, workflow),
                next_step=step,
                enterprise_acts=enterprise_acts,
                url=url_for(endpoint, application_id=row.id) if endpoint else None,
            )
        )
    return items


@dataclass
class CertificateDeadline:
    certificate: Certificate
    label: str
    annual: tuple[dt.date, dt.date] | None  # the next 年审 window, when one falls before expiry
    renewal_opens: dt.date | None


def qualification_deadlines(enterprise_id: int, on: dt.date) -> list[CertificateDeadline]:
    """The qualification certificate in force (an enterprise holds one: 晋级, 降级 and 换证 supersede
    the old one) with its next 年审 window and the day 到期换证 opens."""
    from .qualification import annual_window, current_certificate, level_names, renewal_window

    certificate = current_certificate(enterprise_id)
    if certificate is None:
        return []
    annual = None
    renewal_opens = None
    if certificate.valid_from and certificate.valid_until:
        _year, opens, closes = annual_window(certificate, on)
        # the anniversary that is the expiry has no 年审: 到期换证 covers it
        if opens < certificate.valid_until - dt.timedelta(days=1) and closes >= on:
            annual = (opens, closes)
        renewal_opens = renewal_window(certificate)[0]
    label = level_names().get(certificate.level or "", certificate.level or "")
    return [CertificateDeadline(certificate, label, annual, renewal_opens)]


def home(user: Any) -> dict[str, Any]:
    """Everything the portal home's cards show, for the signed-in enterprise user."""
    from .memberships import current_membership
    from .qualification import today

    enterprise_id = user.enterprise_id
    on = today()
    membership_application = db.session.execute(
        select(Application.id, Application.status)
        .where(
            Application.enterprise_id == enterprise_id,
            Application.kind == "membership",
            Application.status.not_in(REGISTRY["membership"].final_states),
        )
        .order_by(Application.id.desc())
        .limit(1)
    ).first()
    if any(role.name == "OutOfProvinceEnterprise" for role in user.roles):
        # 外省企业: filing instead of membership and qualification (those pages refuse them).
        from .workflows.filing import current_filing

        membership_application = None
        filing = current_filing(enterprise_id, on)
        out_of_province = True
    else:
        filing, out_of_province = None, False
    return {
        "out_of_province": out_of_province,
        "filing": filing,
        "membership": current_membership(enterprise_id) if not out_of_province else None,
        "membership_application": membership_application,
        "membership_state": state_label(membership_application.status, "membership")
        if membership_application
        else None,
        "certificates": qualification_deadlines(enterprise_id, on) if not out_of_province else [],
        "applications": open_applications(enterprise_id),
        "unread": db.session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == user.id, Notification.channel == "inapp", Notification.read_on.is_(None))
        ),
        "staff_count": db.session.scalar(
            select(func.count())
            .select_from(TechnicalStaff)
            .where(TechnicalStaff.enterprise_id == enterprise_id, TechnicalStaff.archived.is_(False))
        ),
        "today": on,
    }

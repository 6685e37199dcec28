"""外省企业备案 workflow: 登记表 -> 提交 -> review -> on 通过 a filing certificate (备案证明) in the register."""

from __future__ import annotations

import datetime as dt
from typing import Any

from dateutil.relativedelta import relativedelta
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from .. import certificates, db
from ..models import Certificate, Enterprise, FilingApplication
from ..qualification import today
from ..settings import get_int
from . import State, Workflow, one_open_per, owner_transitions, register, review_transitions

KIND = "filing"


def is_out_of_province(enterprise: Enterprise) -> bool:
    home = current_app.config.get("HOME_PROVINCE_CODE", "34")
    return not (enterprise.region_code or "").startswith(home)


def current_filing(enterprise_id: int, on: dt.date | None = None) -> Certificate | None:
    """The enterprise's filing certificate in force on `on` (the latest-ending one)."""
    on = on or today()
    return db.session.scalar(
        select(Certificate)
        .where(
            Certificate.kind == KIND,
            Certificate.enterprise_id == enterprise_id,
            Certificate.status == "valid",
            Certificate.valid_from <= on,
            Certificate.valid_until >= on,
        )
        .order_by(Certificate.valid_until.desc(), Certificate.id.desc())
        .limit(1)
    )


def renewal_opens_on(certificate: Certificate) -> dt.date:
    return certificate.valid_until - dt.timedelta(days=get_int("filing.renewal_days_before"))


def eligibility(enterprise: Enterprise | None, on: dt.date | None = None) -> str | None:
    """Why this enterprise may not file now, or None."""
    on = on or today()
    if enterprise is None:
        return _("Only enterprise accounts can apply for a filing")
    if not is_out_of_province(enterprise):
        return _(
            "Out-of-province filing is for enterprises registered outside the province; "
            "enterprises registered in the province apply for membership and qualification instead"
        )
    held = current_filing(enterprise.id, on)
    if held is not None and on < renewal_opens_on(held):
        return _(
            "Your filing %(number)s is valid until %(until)s; a new filing can be applied for from %(opens)s",
            number=held.number,
            until=held.valid_until.isoformat(),
            opens=renewal_opens_on(held).isoformat(),
        )
    return None


def may_file(record: FilingApplication, actor: Any) -> str | None:
    return eligibility(db.session.get(Enterprise, record.enterprise_id) if record.enterprise_id else None)


no_other_open_filing = one_open_per(
    KIND, _l("Your enterprise already has a filing application in progress"), also=may_file
)


def issue_filing_certificate(record: FilingApplication, actor: Any, context: Any) -> None:
    """通过: a filing certificate from `number_pattern.filing`; a renewal's validity follows the old one."""
    on = today()
    held = current_filing(record.enterprise_id, on)
    starts = held.valid_until + dt.timedelta(days=1) if held is not None else on
    until = starts + relativedelta(months=get_int("filing.validity_months")) - dt.timedelta(days=1)
    enterprise = db.session.get(Enterprise, record.enterprise_id)
    record.renews_id = held.id if held is not None else None
    certificates.issue(
        KIND,
        enterprise_id=record.enterprise_id,
        holder_name=enterprise.name,
        valid_from=starts,
        valid_until=until,
        application_id=record.id,
        issued_on=on,
        actor=actor,
    )


def filing_context(record: FilingApplication) -> dict[str, Any]:
    certificate = db.session.scalar(
        select(Certificate).where(Certificate.application_id == record.id, Certificate.kind == KIND)
    )
    return {"filing_certificate": certificate}


WORKFLOW = register(
    Workflow(
        kind=KIND,
        label=_l("Out-of-province filing"),
        model=FilingApplication,
        permission_view="FilingReview",
        state_labels={"approved": State(_l("Filed"), "success")},
        editable_states=("submitted", "returned"),
        final_states=("refused", "withdrawn", "approved"),
        fields_template="filing/_fields.html",
        portal_endpoint="FilingView.detail",
        menu_icon="fa-map-marker",
        queue_label=_l("Out-of-province filings"),
        context=filing_context,
        transitions=(
            *owner_transitions(
                submit_guards=(no_other_open_filing,),
                resubmit_guards=(no_other_open_filing,),
                resubmit_bare=True,
            ),
            *review_transitions(
                approved_notice=_l("filed; the filing certificate can be downloaded"),
                approve_effects=(issue_filing_certificate,),
            ),
        ),
    )
)

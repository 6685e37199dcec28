"""Membership as a service: the member an enterprise is, and granting it (called by workflow effects)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import select

from . import certificates, clock, db
from .models import Enterprise, Membership
from .settings import get_int


def current_membership(enterprise_id: int) -> Membership | None:
    return db.session.scalar(
        select(Membership)
        .where(
            Membership.enterprise_id == enterprise_id,
            Membership.status == "valid",
            Membership.valid_until >= clock.today(),
        )
        .order_by(Membership.valid_until.desc())
        .limit(1)
    )


def grant(
    enterprise_id: int, tier_id: int, fee: Any, application_id: int | None = None, actor: Any = None
) -> Membership:
    """A membership period from today, numbered in the certificate register; the caller commits."""
    today = clock.today()
    until = today + relativedelta(months=get_int("membership.period_months")) - dt.timedelta(days=1)
    enterprise = db.session.get(Enterprise, enterprise_id)
    certificate = certificates.issue(
        "membership",
        enterprise_id=enterprise_id,
        holder_name=enterprise.name,
        valid_from=today,
        valid_until=until,
        application_id=application_id,
        actor=actor,
    )
    membership = Membership(
        enterprise_id=enterprise_id,
        application_id=application_id,
        certificate_id=certificate.id,
        tier_id=tier_id,
        fee=fee,
        valid_from=today,
        valid_until=until,
        status="valid",
    )
    db.session.add(membership)
    return membership

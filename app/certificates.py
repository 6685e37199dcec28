"""The certificate register: every issued document (membership, training, qualification, filing).

`issue()` takes the next number of the kind's pattern (gapless, inside the caller's transaction)
and records the first history event; `change_status()` moves a certificate and records why.
Neither commits: they run inside a workflow transition's or a service's transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_babel import lazy_gettext as _l

from . import audit, clock, db
from .models import Certificate, CertificateEvent, utcnow
from .numbering import next_number

KINDS = {
    "qualification": _l("Qualification certificate"),
    "membership": _l("Membership certificate"),
    "training": _l("Training certificate"),
    "filing": _l("Filing certificate"),
}
EVENTS = {
    "issued": _l("Issued"),
    "annual_review": _l("Annual review"),
    "superseded": _l("Superseded"),
    "suspended": _l("Suspended"),
    "revoked": _l("Revoked"),
    "reinstated": _l("Reinstated"),
    "expired": _l("Expired"),
    "void": _l("Void"),
    "reissue_needed": _l("Reissue needed"),
    "copy_reissued": _l("Copy reissued"),
}
STATUSES = {
    "valid": _l("In force"),  # the status; "Valid" is the validity period (有效期) in templates
    "suspended": _l("Suspended"),
    "revoked": _l("Revoked"),
    "expired": _l("Expired"),
    "superseded": _l("Superseded"),
    "void": _l("Void"),
}


def issue(
    kind: str,
    *,
    enterprise_id: int,
    holder_name: str,
    valid_from: dt.date,
    valid_until: dt.date | None = None,
    application_id: int | None = None,
    level: str | None = None,
    number: str | None = None,
    copies_original: int = 1,
    copies_duplicate: int = 0,
    replaces: Certificate | None = None,
    actor: Any = None,
    issued_on: dt.date | None = None,
) -> Certificate:
    """A new certificate of `kind`, numbered from `number_pattern.<kind>` unless `number` is given."""
    certificate = Certificate(
        kind=kind,
        number=number or next_number(kind, valid_from),
        enterprise_id=enterprise_id,
        holder_name=holder_name,
        application_id=application_id,
        level=level,
        issued_on=issued_on or clock.today(),
        valid_from=valid_from,
        valid_until=valid_until,
        status="valid",
        copies_original=copies_original,
        copies_duplicate=copies_duplicate,
        replaces_id=replaces.id if replaces else None,
    )
    db.session.add(certificate)
    db.session.flush()
    _event(certificate, "issued", None, "valid", None, actor)
    return certificate


def change_status(certificate: Certificate, to_status: str, event: str, note: str | None, actor: Any) -> None:
    """Move a certificate to `to_status` (audited, with a history event); the caller commits."""
    if to_status not in STATUSES:
        raise ValueError(f"unknown certificate status {to_status!r}")
    before = certificate.status
    certificate.status = to_status
    _event(certificate, event, before, to_status, note, actor)
    audit.record(
        event,
        "Certificate",
        certificate.id,
        before={"status": before},
        after={"status": to_status},
        comment=note,
        actor=actor,
    )


def record_event(certificate: Certificate, event: str, note: str | None, actor: Any) -> None:
    """A history event that leaves the status as it is (补发 of a copy, reissue needed); audited."""
    _event(certificate, event, certificate.status, certificate.status, note, actor)
    audit.record(event, "Certificate", certificate.id, comment=note, actor=actor)


def _event(certificate: Certificate, event: str, before: str | None, after: str, note: str | None, actor: Any) -> None:
    db.session.add(
        CertificateEvent(
            certificate_id=certificate.id,
            enterprise_id=certificate.enterprise_id,
            event=event,
            from_status=before,
            to_status=after,
            note=note,
            actor_id=getattr(actor, "id", None),
            actor_name=audit.actor_name(actor) if actor is not None else str(_l("System")),
            at=utcnow(),
        )
    )


def history(certificate_id: int) -> list[CertificateEvent]:
    from sqlalchemy import select

    return list(
        db.session.scalars(
            select(CertificateEvent)
            .where(CertificateEvent.certificate_id == certificate_id)
            .order_by(CertificateEvent.id)
        )
    )

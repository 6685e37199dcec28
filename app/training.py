"""Training results as a service: 确认报名, 合格 (issues the training certificate) and 不合格, audited.

Each enrolment moves with a compare-and-set on its status, in its own transaction, so a bulk action
over many rows never half-applies one row and two reviewers never both pass the same person.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from . import audit, certificates, clock, db
from .exceptions import UserError
from .models import Enrollment, TechnicalStaff, TrainingBatch, utcnow

log = logging.getLogger(__name__)

ENROLLMENT_STATES = {
    "registered": _l("Registered"),
    "confirmed": _l("Confirmed"),
    "passed": _l("Passed"),
    "failed": _l("Failed"),
}
BATCH_STATES = {
    "draft": _l("Draft (not shown)"),
    "open": _l("Open for sign-up"),
    "closed": _l("Sign-up closed"),
    "finished": _l("Finished"),
    "cancelled": _l("Cancelled"),  # enterprises with enrolments are told (training.batch_cancelled)
}
# action -> (from state, to state)
ENROLLMENT_ACTIONS = {
    "confirm": ("registered", "confirmed"),
    "pass": ("confirmed", "passed"),
    "fail": ("confirmed", "failed"),
}


class ResultsTooEarly(UserError):
    """合格 / 不合格 before the training has begun."""


def _today() -> dt.date:
    from .qualification import today

    return today()


def record_results(batch: TrainingBatch, action: str, enrollment_ids: list[int], actor: Any) -> tuple[int, int]:
    """Apply `action` to the batch's enrolments among `enrollment_ids`: (done, skipped).

    合格 issues a training certificate (number from `number_pattern.training`) in the register.
    """
    source, target = ENROLLMENT_ACTIONS[action]
    if target in ("passed", "failed") and batch.starts_on and _today() < batch.starts_on:
        raise ResultsTooEarly(
            _("Results can be recorded from the first training day (%(date)s) on", date=batch.starts_on.isoformat())
        )
    done = skipped = 0
    moved_ids: list[int] = []
    for enrollment_id in enrollment_ids:
        values: dict[str, Any] = {"status": target, "changed_on": utcnow()}
        if target in ("passed", "failed"):
            values["result_on"] = clock.today()
        moved = db.session.execute(
            update(Enrollment)
            .where(Enrollment.id == enrollment_id, Enrollment.batch_id == batch.id, Enrollment.status == source)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount != 1:
            db.session.rollback()
            skipped += 1
            continue
        after = {"status": target}
        try:
            if target == "passed":
                enrollment = db.session.scalar(select(Enrollment).where(Enrollment.id == enrollment_id))
                certificate = certificates.issue(
                    "training",
                    enterprise_id=enrollment.enterprise_id,
                    holder_name=enrollment.staff.name,
                    valid_from=clock.today(),
                    actor=actor,
                )
                enrollment.certificate_id = certificate.id
                after["certificate_number"] = certificate.number
            audit.record(action, "Enrollment", enrollment_id, before={"status": source}, after=after, actor=actor)
            db.session.commit()
        except IntegrityError:  # a certificate number already in use (a pattern without {year}, say)
            db.session.rollback()  # gives the number back
            skipped += 1
            continue
        done += 1
        moved_ids.append(enrollment_id)
    notify_enrollments(batch, action, moved_ids)
    return done, skipped


def notify_enrollments(batch: TrainingBatch, action: str, enrollment_ids: list[int]) -> None:
    """Tell each enterprise once about its people among `enrollment_ids` (message `training.<action>`).
    After the commits: a failed message never undoes a recorded result."""
    from .notify import notify_event

    if not enrollment_ids:
        return
    people: dict[int, list[str]] = {}
    rows = db.session.execute(
        select(Enrollment.enterprise_id, TechnicalStaff.name)
        .join(TechnicalStaff, TechnicalStaff.id == Enrollment.staff_id)
        .where(Enrollment.id.in_(enrollment_ids))
        .order_by(Enrollment.id)
    ).all()
    for enterprise_id, name in rows:
        people.setdefault(enterprise_id, []).append(name)
    for enterprise_id, names in people.items():
        try:
            notify_event(
                f"training.{action}",
                enterprise_id,
                names="、".join(names),
                batch=batch.name,
                date=batch.starts_on.isoformat() if batch.starts_on else "",
            )
        except Exception:
            log.exception("notifying enterprise %s about training batch %s failed", enterprise_id, batch.id)
            db.session.rollback()

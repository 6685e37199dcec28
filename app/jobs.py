"""Scheduled jobs: expiry and annual-review reminders, expiry marking, purges and SMS retries.

One mechanism keeps each run single however many processes and hosts there are:
- the schedule runs in ONE separate process, `flask jobs scheduler` (APScheduler's BlockingScheduler),
  never inside the web workers;
- every run first claims its slot — a `job_run` row with the unique key (job, scheduled_for) — and
  only the process whose insert succeeds runs it. A second scheduler (another host, a restart
  overlapping the old process) finds the slot taken and skips it.
Slots are computed from the clock (the latest "daily at 08:00" or "every 15 minutes" time, Asia/Shanghai),
not from when APScheduler happened to fire, so every process names the same slot. On start the
scheduler claims each job's latest slot: a run missed while the server was down is caught up once.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import socket
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dateutil.relativedelta import relativedelta
from flask import Flask
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from . import certificates, db
from .models import (
    Certificate,
    JobRun,
    Membership,
    QualificationApplication,
    ReminderSent,
    WizardDraft,
    utcnow,
)
from .notify import notify_event
from .qualification import CHINA
from .settings import get_int, get_setting

log = logging.getLogger(__name__)

CERTIFICATE_KINDS_REMINDED = ("qualification", "filing")  # memberships are reminded as memberships
BATCH = 200
# A run still "running" after this long is taken to belong to a process that died.
STALE_AFTER = dt.timedelta(hours=2)


@dataclass(frozen=True)
class Schedule:
    """`daily` at the time of a setting ("08:00"), or `every` so many minutes (a setting), Asia/Shanghai."""

    kind: str  # daily | every
    setting: str

    def daily_time(self) -> tuple[int, int]:
        try:
            hour, minute = (int(part) for part in get_setting(self.setting).strip().replace("：", ":").split(":"))
            if 0 <= hour < 24 and 0 <= minute < 60:
                return hour, minute
        except ValueError:
            pass
        from .settings import DEFAULT_SETTINGS

        hour, minute = DEFAULT_SETTINGS[self.setting][0].split(":")
        return int(hour), int(minute)

    def minutes(self) -> int:
        return min(max(get_int(self.setting), 1), 1440)

    def latest_slot(self, now: dt.datetime | None = None) -> dt.datetime:
        """The latest scheduled time at or before `now` (naive UTC in, naive UTC out)."""
        now = now or utcnow()
        local = now.replace(tzinfo=dt.UTC).astimezone(CHINA)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        if self.kind == "daily":
            hour, minute = self.daily_time()
            slot = midnight.replace(hour=hour, minute=minute)
            if slot > local:
                slot -= dt.timedelta(days=1)
        else:
            step = self.minutes()
            elapsed = int((local - midnight).total_seconds() // 60)
            slot = midnight + dt.timedelta(minutes=elapsed - elapsed % step)
        return slot.astimezone(dt.UTC).replace(tzinfo=None)

    def describe(self) -> str:
        if self.kind == "daily":
            hour, minute = self.daily_time()
            return str(_l("Daily at %(time)s (Beijing time)", time=f"{hour:02d}:{minute:02d}"))
        return str(_l("Every %(n)s minutes", n=self.minutes()))

    def trigger(self) -> Any:
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        if self.kind == "daily":
            hour, minute = self.daily_time()
            return CronTrigger(hour=hour, minute=minute, timezone=CHINA)
        step = self.minutes()
        if 60 % step == 0:
            return CronTrigger(minute=f"*/{step}", timezone=CHINA)
        return IntervalTrigger(minutes=step, timezone=CHINA)


@dataclass(frozen=True)
class Job:
    name: str
    label: Any
    description: Any
    schedule: Schedule
    run: Callable[[], dict[str, int]]


# --- the jobs -------------------------------------------------------------------------------------


def today() -> dt.date:
    from .qualification import today as china_today

    return china_today()


def reminder_days() -> list[int]:
    from .settings import get_list

    days = sorted({int(item) for item in get_list("jobs.reminder_days") if item.isdigit() and int(item) > 0})
    return days or [90, 30, 7]


def _already_sent(subject_type: str, ids: list[int]) -> set[tuple[int, str]]:
    sent: set[tuple[int, str]] = set()
    for start in range(0, len(ids), 500):
        sent.update(
            db.session.execute(
                select(ReminderSent.subject_id, ReminderSent.threshold).where(
                    ReminderSent.subject_type == subject_type, ReminderSent.subject_id.in_(ids[start : start + 500])
                )
            ).tuples()
        )
    return sent


def _send_once(subject_type: str, subject_id: int, threshold: str, enterprise_id: int, event: str, **values) -> bool:
    """Record the reminder (unique per subject and threshold) and send it, in one transaction."""
    db.session.add(
        ReminderSent(subject_type=subject_type, subject_id=subject_id, threshold=threshold, enterprise_id=enterprise_id)
    )
    try:
        db.session.flush()
    except IntegrityError:  # sent by a concurrent run a moment ago
        db.session.rollback()
        return False
    notify_event(event, enterprise_id, **values)  # commits the reminder row with the messages
    return True


def expiry_reminders() -> dict[str, int]:
    """Certificates and memberships expiring within a threshold (90/30/7 days): each reminded once per
    threshold — the smallest threshold reached, so a run missed for days sends one reminder, not three."""
    day = today()
    days = reminder_days()
    horizon = day + dt.timedelta(days=days[-1])
    counts: dict[str, int] = {}

    certificate_rows = db.session.execute(
        select(Certificate.id, Certificate.enterprise_id, Certificate.kind, Certificate.number, Certificate.valid_until)
        .where(
            Certificate.status == "valid",
            Certificate.kind.in_(CERTIFICATE_KINDS_REMINDED),
            Certificate.valid_until >= day,
            Certificate.valid_until <= horizon,
        )
        .order_by(Certificate.id)
    ).all()
    counts["certificates"] = _remind_expiring(
        "certificate",
        certificate_rows,
        day,
        days,
        "reminder.certificate_expiring",
        lambda row: {"type": certificates.KINDS.get(row.kind, row.kind), "number": row.number},
    )

    newer = aliased(Membership)
    membership_rows = db.session.execute(
        select(Membership.id, Membership.enterprise_id, Membership.member_number, Membership.valid_until)
        .where(
            Membership.status == "valid",
            Membership.valid_until >= day,
            Membership.valid_until <= horizon,
            # already renewed: a later membership of the same enterprise
            ~exists().where(
                and_(
                    newer.enterprise_id == Membership.enterprise_id,
                    newer.status == "valid",
                    newer.valid_until > Membership.valid_until,
                )
            ),
        )
        .order_by(Membership.id)
    ).all()
    counts["memberships"] = _remind_expiring(
        "membership", membership_rows, day, days, "reminder.membership_expiring", lambda row: {"number": row.member_number}
    )
    return counts


def _remind_expiring(subject_type: str, rows, day: dt.date, days: list[int], event: str, values) -> int:
    """Each row (id, enterprise_id, valid_until, …) reminded once at the smallest threshold it has reached;
    `values(row)` adds what the message names beside the date and the days left. Returns how many were sent."""
    sent = _already_sent(subject_type, [row.id for row in rows])
    count = 0
    for row in rows:
        left = (row.valid_until - day).days
        threshold = str(min(d for d in days if d >= left))
        if (row.id, threshold) in sent:
            continue
        if _send_once(
            subject_type,
            row.id,
            threshold,
            row.enterprise_id,
            event,
            date=row.valid_until.isoformat(),
            days=left,
            **values(row),
        ):
            count += 1
    return count


def annual_review_reminders() -> dict[str, int]:
    """A reminder when a qualification certificate's 资质年审 window opens (RULES.md: from
    `qualification.annual_window_days_before` before each anniversary to `…_after` after it),
    once per certificate year; not for the year that ends with the expiry (到期换证 reviews it)."""
    day = today()
    before = dt.timedelta(days=get_int("qualification.annual_window_days_before"))
    after = dt.timedelta(days=get_int("qualification.annual_window_days_after"))
    rows = db.session.execute(
        select(
            Certificate.id,
            Certificate.enterprise_id,
            Certificate.number,
            Certificate.valid_from,
            Certificate.valid_until,
        )
        .where(Certificate.kind == "qualification", Certificate.status == "valid", Certificate.valid_until >= day)
        .order_by(Certificate.id)
    ).all()
    passed = set(
        db.session.execute(
            select(QualificationApplication.certificate_id, QualificationApplication.review_year).where(
                QualificationApplication.kind == "qualification_annual", QualificationApplication.status == "approved"
            )
        ).tuples()
    )
    sent = _already_sent("certificate", [row.id for row in rows])
    count = 0
    for row in rows:
        years = relativedelta(day + before, row.valid_from).years  # the anniversary whose window may be open
        if years < 1:
            continue
        anniversary = row.valid_from + relativedelta(years=years)
        if not (anniversary - before <= day <= anniversary + after) or anniversary > row.valid_until:
            continue
        threshold = f"annual:{years}"
        if (row.id, threshold) in sent or (row.id, years) in passed:
            continue
        if _send_once(
            "certificate",
            row.id,
            threshold,
            row.enterprise_id,
            "reminder.annual_review_open",
            type=certificates.KINDS["qualification"],
            number=row.number,
            date=(anniversary + after).isoformat(),
        ):
            count += 1
    return {"reminders": count}


def mark_expired() -> dict[str, int]:
    """Certificates and memberships past their last valid day become 已过期 (with a history event)."""
    day = today()
    counts = {"certificates": 0, "memberships": 0}
    told: list[tuple[str, int, dict[str, Any]]] = []
    while True:
        batch = db.session.scalars(
            select(Certificate)
            .where(Certificate.status == "valid", Certificate.valid_until < day)
            .order_by(Certificate.id)
            .limit(BATCH)
        ).all()
        if not batch:
            break
        for certificate in batch:
            certificates.change_status(certificate, "expired", "expired", str(_l("Validity ended")), None)
            if certificate.kind != "membership":  # memberships are told as memberships below
                told.append(
                    (
                        "certificate.expired",
                        certificate.enterprise_id,
                        {
                            "type": certificates.KINDS.get(certificate.kind, certificate.kind),
                            "number": certificate.number,
                            "date": certificate.valid_until.isoformat(),
                        },
                    )
                )
        db.session.commit()
        counts["certificates"] += len(batch)
    expired = db.session.execute(
        select(Membership.id, Membership.enterprise_id, Membership.member_number, Membership.valid_until).where(
            Membership.status == "valid", Membership.valid_until < day
        )
    ).all()
    for row in expired:
        moved = db.session.execute(
            update(Membership)
            .where(Membership.id == row.id, Membership.status == "valid")
            .values(status="expired", changed_on=utcnow())
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount == 1:
            counts["memberships"] += 1
            told.append(
                (
                    "membership.expired",
                    row.enterprise_id,
                    {"number": row.member_number, "date": row.valid_until.isoformat()},
                )
            )
    db.session.commit()
    for event, enterprise_id, values in told:
        try:
            notify_event(event, enterprise_id, **values)
        except Exception:  # the marking stands; the message is recorded as failed or logged
            log.exception("telling enterprise %s about %s failed", enterprise_id, event)
            db.session.rollback()
    return counts


def purge_sms_codes() -> dict[str, int]:
    from .sms import purge_expired

    return {"deleted": purge_expired()}


def purge_wizard_drafts() -> dict[str, int]:
    """Registration, activation and password-reset drafts a day after they expired."""
    result = db.session.execute(
        WizardDraft.__table__.delete().where(WizardDraft.expires_on < utcnow() - dt.timedelta(days=1))
    )
    db.session.commit()
    return {"deleted": result.rowcount}


def purge_error_sheets() -> dict[str, int]:
    from .staff import purge_error_workbooks

    total = 0
    while deleted := purge_error_workbooks():
        total += deleted
    return {"deleted": total}


def retry_sms() -> dict[str, int]:
    from .notify import retry_failed_sms

    return retry_failed_sms(get_int("jobs.sms_retry_attempts"), dt.timedelta(days=2))


JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job(
            "expiry_reminders",
            _l("Expiry reminders"),
            _l("Certificates and memberships expiring in 90, 30 or 7 days: the enterprise is told once per threshold."),
            Schedule("daily", "jobs.reminders_at"),
            expiry_reminders,
        ),
        Job(
            "annual_review_reminders",
            _l("Annual review reminders"),
            _l("Tells the enterprise when the annual review window of its qualification certificate opens."),
            Schedule("daily", "jobs.reminders_at"),
            annual_review_reminders,
        ),
        Job(
            "mark_expired",
            _l("Expiry marking"),
            _l("Certificates and memberships past their validity are marked expired, and the enterprise is told."),
            Schedule("daily", "jobs.expiry_at"),
            mark_expired,
        ),
        Job(
            "purge_sms_codes",
            _l("Purge expired SMS codes"),
            _l("Deletes verification codes that expired more than two days ago."),
            Schedule("daily", "jobs.cleanup_at"),
            purge_sms_codes,
        ),
        Job(
            "purge_wizard_drafts",
            _l("Purge stale form drafts"),
            _l("Deletes registration, activation and password-reset drafts a day after they expired."),
            Schedule("daily", "jobs.cleanup_at"),
            purge_wizard_drafts,
        ),
        Job(
            "purge_error_sheets",
            _l("Purge error workbooks"),
            _l("Deletes the workbooks with errors written for refused sign-up sheets once they are old."),
            Schedule("daily", "jobs.cleanup_at"),
            purge_error_sheets,
        ),
        Job(
            "sms_retry",
            _l("Retry failed SMS"),
            _l("Sends failed notification SMS again, up to the configured number of attempts within two days."),
            Schedule("every", "jobs.sms_retry_minutes"),
            retry_sms,
        ),
    )
}

RESULTS = {"running": _l("Running"), "ok": _l("Succeeded"), "failed": _l("Run failed")}  # not “Failed”: 不合格 in training
TRIGGERS = {"schedule": _l("On schedule"), "catch_up": _l("Caught up on start"), "manual": _l("Run by hand")}
COUNT_LABELS = {
    "certificates": _l("certificates"),
    "memberships": _l("memberships"),
    "reminders": _l("reminders"),
    "deleted": _l("deleted"),
    "retried": _l("retried"),
    "sent": _l("sent"),
    "failed": _l("failed"),
}


# --- running a slot -------------------------------------------------------------------------------


def claim(name: str, scheduled_for: dt.datetime, trigger: str, actor: Any = None) -> JobRun | None:
    """Insert the run's row; None if another process already holds this slot."""
    run = JobRun(
        job=name,
        scheduled_for=scheduled_for,
        trigger=trigger,
        result="running",
        host=socket.gethostname()[:100],
        actor_id=getattr(actor, "id", None),
    )
    db.session.add(run)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return _take_over_stale(name, scheduled_for, trigger, actor)
    return run


def _take_over_stale(name: str, scheduled_for: dt.datetime, trigger: str, actor: Any) -> JobRun | None:
    """A slot still "running" long after it started belongs to a process that died (killed, host down):
    one process takes it over with a compare-and-set and runs it again (every job is safe to re-run)."""
    now = utcnow()
    taken = db.session.execute(
        update(JobRun)
        .where(
            JobRun.job == name,
            JobRun.scheduled_for == scheduled_for,
            JobRun.result == "running",
            JobRun.started_on < now - STALE_AFTER,
        )
        .values(started_on=now, trigger=trigger, host=socket.gethostname()[:100], actor_id=getattr(actor, "id", None))
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if taken.rowcount != 1:
        return None
    log.warning("job %s: took over the stale run of slot %s", name, scheduled_for)
    return db.session.scalar(select(JobRun).where(JobRun.job == name, JobRun.scheduled_for == scheduled_for))


def run_job(
    name: str, *, trigger: str = "manual", scheduled_for: dt.datetime | None = None, actor: Any = None
) -> JobRun | None:
    """Claim the slot and run the job in it; returns the finished run, or None when the slot was taken.
    A manual run takes the current instant as its own slot."""
    job = JOBS[name]
    run = claim(name, scheduled_for or utcnow(), trigger, actor)
    if run is None:
        log.info("job %s: slot %s already taken", name, scheduled_for)
        return None
    run_id = run.id
    try:
        counts = job.run()
        result, error = "ok", None
    except Exception as failure:  # recorded on the run, shown on 定时任务
        db.session.rollback()
        log.exception("job %s failed (run #%s)", name, run_id)
        counts, result, error = {}, "failed", "".join(traceback.format_exception_only(failure)).strip()[:2000]
    db.session.execute(
        update(JobRun)
        .where(JobRun.id == run_id)
        .values(result=result, error=error, counts=json.dumps(counts), finished_on=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return db.session.get(JobRun, run_id, populate_existing=True)


def run_due(name: str, trigger: str = "schedule", now: dt.datetime | None = None) -> JobRun | None:
    """Run the job's latest slot unless some process already has."""
    return run_job(name, trigger=trigger, scheduled_for=JOBS[name].schedule.latest_slot(now))


def catch_up(now: dt.datetime | None = None) -> list[JobRun]:
    """On start: each job's latest slot that no process has run yet is run now, once."""
    done = []
    for name, job in JOBS.items():
        slot = job.schedule.latest_slot(now)
        taken = db.session.scalar(
            select(JobRun.id).where(
                JobRun.job == name,
                JobRun.scheduled_for == slot,
                (JobRun.result != "running") | (JobRun.started_on >= utcnow() - STALE_AFTER),
            )
        )
        if taken is None and (run := run_job(name, trigger="catch_up", scheduled_for=slot)) is not None:
            done.append(run)
    return done


def last_runs(name: str, limit: int = 5) -> list[JobRun]:
    return list(
        db.session.scalars(select(JobRun).where(JobRun.job == name).order_by(JobRun.started_on.desc()).limit(limit))
    )


def recent_runs(limit: int = 5) -> dict[str, list[JobRun]]:
    """Each job's last `limit` runs, in one query (newest first)."""
    rank = (
        func.row_number()
        .over(partition_by=JobRun.job, order_by=(JobRun.started_on.desc(), JobRun.id.desc()))
        .label("rank")
    )
    ranked = select(JobRun.id, rank).subquery()
    rows = db.session.scalars(
        select(JobRun)
        .join(ranked, ranked.c.id == JobRun.id)
        .where(ranked.c.rank <= limit)
        .order_by(JobRun.job, JobRun.started_on.desc(), JobRun.id.desc())
    ).all()
    runs: dict[str, list[JobRun]] = {name: [] for name in JOBS}
    for run in rows:
        runs.setdefault(run.job, []).append(run)
    return runs


def describe_counts(counts: str | None) -> str:
    try:
        values = json.loads(counts or "{}")
    except ValueError:
        return ""
    return "，".join(f"{COUNT_LABELS.get(key, key)} {value}" for key, value in values.items())


def build_scheduler(app: Flask) -> Any:
    """The BlockingScheduler of `flask jobs scheduler`: one cron entry per job, each running its slot."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    scheduler = BlockingScheduler(timezone=CHINA)

    def fire(name: str) -> None:
        with app.app_context():
            try:
                run_due(name)
            finally:
                db.session.remove()

    with app.app_context():
        for name, job in JOBS.items():
            scheduler.add_job(
                fire,
                job.schedule.trigger(),
                args=[name],
                id=name,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=3600,
            )
    return scheduler

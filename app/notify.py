"""Notifications to an enterprise: an in-app message (站内消息) for each account and an SMS to each phone.

Every message is recorded with its channel and result, so "was this enterprise told?" has an answer.
Sending happens after the state change has been committed; a failed SMS never undoes it, stays
visible as failed and is tried again by the `sms_retry` job a bounded number of times.

What an event says is a `MessageTemplate` the association edits (`{placeholder}`s filled at send
time); `flask seed` inserts the Chinese defaults of `default_templates()` that are missing.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from . import db
from .models import Enterprise, MessageTemplate, Notification, PlatformUser, utcnow
from .sms import SmsSendError, gateway

log = logging.getLogger(__name__)

# Every placeholder a template may use; an event leaves the ones it has no value for empty.
PLACEHOLDERS: dict[str, Any] = {
    "enterprise": _l("the enterprise's name"),
    "type": _l("the application type or certificate kind"),
    "event": _l("what happened"),
    "state": _l("the application's state now"),
    "number": _l("the application, certificate or member number"),
    "date": _l("the date that matters (expiry, deadline, training start)"),
    "days": _l("days left"),
    "comment": _l("the reviewer's reason, when given"),
    "names": _l("the people concerned (training)"),
    "batch": _l("the training batch"),
}
# How a sent message reads in the back office (消息记录, 企业档案).
CHANNELS = {"sms": _l("SMS"), "inapp": _l("In-app message")}
RESULTS = {"sent": _l("Sent"), "delivered": _l("Delivered"), "failed": _l("Sending failed")}

_PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")

WORKFLOW_BODY = "您的申请（编号 {number}）当前状态为“{state}”。{comment}"

# event -> (description, subject, body): the events that are not workflow transitions.
FIXED_TEMPLATES: dict[str, tuple[str, str, str]] = {
    "training.confirm": (
        "技术培训：确认报名",
        "技术培训：报名已确认",
        "{names} 报名参加的培训“{batch}”已确认，培训于 {date} 开始。",
    ),
    "training.pass": (
        "技术培训：合格",
        "技术培训：考核合格",
        "{names} 在培训“{batch}”中考核合格，培训合格证书已签发。",
    ),
    "training.fail": ("技术培训：不合格", "技术培训：考核不合格", "{names} 在培训“{batch}”中考核不合格。"),
    "training.batch_cancelled": (
        "技术培训：培训批次取消",
        "技术培训：培训已取消",
        "培训“{batch}”（原定 {date} 开始）已取消，涉及的报名人员：{names}。",
    ),
    "reminder.certificate_expiring": (
        "提醒：证书即将到期",
        "证书即将到期",
        "您的{type}（编号 {number}）将于 {date} 到期，还剩 {days} 天，请及时办理。",
    ),
    "reminder.membership_expiring": (
        "提醒：会员资格即将到期",
        "会员资格即将到期",
        "您的会员资格（会员编号 {number}）将于 {date} 到期，还剩 {days} 天，请及时续费。",
    ),
    "reminder.annual_review_open": (
        "提醒：资质年审开放",
        "资质年审已开放",
        "您的资质证书（编号 {number}）年审已开放，请于 {date} 前提交资质年审申请。",
    ),
    "certificate.expired": ("到期：证书已到期", "证书已到期", "您的{type}（编号 {number}）已于 {date} 到期。"),
    "membership.expired": (
        "到期：会员资格已到期",
        "会员资格已到期",
        "您的会员资格（会员编号 {number}）已于 {date} 到期。",
    ),
}


def workflow_event(kind: str, transition: str) -> str:
    return f"workflow.{kind}.{transition}"


def default_templates() -> dict[str, tuple[str, str, str]]:
    """Every event's Chinese default: one per transition of every workflow, then the fixed ones."""
    from .workflows import REGISTRY

    templates: dict[str, tuple[str, str, str]] = {}
    with force_locale("zh"):
        for workflow in REGISTRY.values():
            for transition in workflow.transitions:
                said = str(transition.notify or transition.label)
                templates[workflow_event(workflow.kind, transition.name)] = (
                    f"{workflow.label}：{transition.label}",
                    "{type}：" + said,
                    WORKFLOW_BODY,
                )
    templates.update(FIXED_TEMPLATES)
    return templates


def seed_templates() -> int:
    """Insert the missing default templates (never touches one the association edited); the caller commits."""
    existing = set(db.session.scalars(select(MessageTemplate.event)))
    added = 0
    for event, (description, subject, body) in default_templates().items():
        if event not in existing:
            db.session.add(MessageTemplate(event=event, description=description, subject=subject, body=body))
            added += 1
    return added


def unknown_placeholders(text: str | None) -> list[str]:
    return [name for name in _PLACEHOLDER_RE.findall(text or "") if name not in PLACEHOLDERS]


def check_template(subject: str | None, body: str | None) -> None:
    """Refuse a template that uses a placeholder no event fills (a typo would reach every enterprise)."""
    unknown = unknown_placeholders(subject) + unknown_placeholders(body)
    if unknown:
        raise ValueError(
            _(
                "Unknown placeholder(s): %(names)s. Allowed: %(allowed)s",
                names="、".join("{" + name + "}" for name in unknown),
                allowed="、".join("{" + name + "}" for name in PLACEHOLDERS),
            )
        )


def render(text: str, values: dict[str, Any]) -> str:
    """Fill `{name}` placeholders; no format specs or attribute access, whatever an editor typed."""
    return _PLACEHOLDER_RE.sub(lambda match: str(values.get(match.group(1)) or ""), text).strip()


def notify_event(
    event_key: str, enterprise_id: int, /, *, application_id: int | None = None, sms: bool = True, **values: Any
) -> list[Notification]:
    """Send the enterprise the message of `event` (its template, filled with `values`); none if disabled."""
    template = db.session.scalar(select(MessageTemplate).where(MessageTemplate.event == event_key))
    if template is not None:
        if not template.enabled:
            return []
        subject, body = template.subject, template.body
    else:  # not seeded yet
        _description, subject, body = default_templates().get(event_key, ("", event_key, ""))
    if "enterprise" not in values:
        values["enterprise"] = db.session.scalar(select(Enterprise.name).where(Enterprise.id == enterprise_id))
    return notify_enterprise(
        enterprise_id,
        render(subject, values)[:200],
        render(body, values),
        application_id=application_id,
        sms=sms,
        event=event_key,
    )


def notify_enterprise(
    enterprise_id: int,
    subject: str,
    body: str,
    *,
    application_id: int | None = None,
    sms: bool = True,
    event: str | None = None,
) -> list[Notification]:
    users = db.session.scalars(
        select(PlatformUser).where(PlatformUser.enterprise_id == enterprise_id, PlatformUser.active.is_(True))
    ).all()
    sent: list[Notification] = []
    for user in users:
        sent.append(
            Notification(
                enterprise_id=enterprise_id,
                user_id=user.id,
                application_id=application_id,
                channel="inapp",
                recipient=user.username,
                subject=subject,
                body=body,
                result="delivered",
                event=event,
            )
        )
        if sms and user.phone:
            result, error = _send_sms(user.phone, subject, body)
            sent.append(
                Notification(
                    enterprise_id=enterprise_id,
                    user_id=user.id,
                    application_id=application_id,
                    channel="sms",
                    recipient=user.phone,
                    subject=subject,
                    body=body,
                    result=result,
                    error=error,
                    event=event,
                    attempts=1,
                )
            )
    db.session.add_all(sent)
    db.session.commit()
    return sent


def _send_sms(phone: str, subject: str, body: str) -> tuple[str, str | None]:
    try:
        gateway().send(phone, f"{subject}：{body}", "notice", "")
    except SmsSendError as failure:
        log.warning("notification SMS to %s failed: %s", phone[-4:], failure)
        return "failed", str(failure)[:300]
    return "sent", None


def retry_failed_sms(max_attempts: int, max_age: dt.timedelta, limit: int = 500) -> dict[str, int]:
    """Send failed notification SMS again, each at most `max_attempts` times in all and only while
    younger than `max_age`; each row keeps its latest result, so what still failed stays visible."""
    rows = db.session.scalars(
        select(Notification)
        .where(
            Notification.channel == "sms",
            Notification.result == "failed",
            Notification.attempts < max_attempts,
            Notification.created_on >= utcnow() - max_age,
        )
        .order_by(Notification.id)
        .limit(limit)
    ).all()
    counts = {"retried": 0, "sent": 0, "failed": 0}
    for row in rows:
        # Claim the attempt first: two runs never send the same message twice.
        claimed = db.session.execute(
            update(Notification)
            .where(Notification.id == row.id, Notification.result == "failed", Notification.attempts == row.attempts)
            .values(attempts=row.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        if claimed.rowcount != 1:
            continue
        result, error = _send_sms(row.recipient or "", row.subject, row.body)
        db.session.execute(
            update(Notification)
            .where(Notification.id == row.id)
            .values(result=result, error=error)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        counts["retried"] += 1
        counts[result] += 1
    return counts


def unread_count(user_id: int) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user_id, Notification.channel == "inapp", Notification.read_on.is_(None))
    )

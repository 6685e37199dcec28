"""Notifications to an enterprise: an in-app message (站内消息) for each account and an SMS to each phone.

Every message is recorded with its channel and result, so "was this enterprise told?" has an answer.
Sending happens after the state change has been committed; a failed SMS never undoes it.
"""

from __future__ import annotations

import logging

from sqlalchemy import func, select

from . import db
from .models import Notification, PlatformUser
from .sms import SmsSendError, gateway

log = logging.getLogger(__name__)


def notify_enterprise(
    enterprise_id: int, subject: str, body: str, *, application_id: int | None = None, sms: bool = True
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
            )
        )
        if sms and user.phone:
            result, error = "sent", None
            try:
                gateway().send(user.phone, f"{subject}：{body}", "notice", "")
            except SmsSendError as failure:
                result, error = "failed", str(failure)[:300]
                log.warning("notification SMS to user %s failed: %s", user.id, failure)
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
                )
            )
    db.session.add_all(sent)
    db.session.commit()
    return sent


def unread_count(user_id: int) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user_id, Notification.channel == "inapp", Notification.read_on.is_(None))
    )

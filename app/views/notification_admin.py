"""消息记录 in the back office: every SMS and in-app message sent, filtered by channel, result and
enterprise, read-only, with 导出 CSV."""

from __future__ import annotations

import datetime as dt

from flask import request
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..lists import (
    SHANGHAI,
    Column,
    Field,
    contains_text,
    described_filters,
    export_csv,
    labelled,
    local_time,
    page_size,
    paginate,
)
from ..models import Enterprise, Notification
from ..notify import CHANNELS, RESULTS
from ..scoping import scoped
from .common import page_number

PAGE_SIZE = 50


def _date_arg(name: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None


def notification_columns() -> list[Column]:
    return [
        Column("created_on", _l("Sent at"), lambda r: local_time(r.Notification.created_on)),
        Column("enterprise", _l("Enterprise"), lambda r: r.enterprise_name or ""),
        Column("channel", _l("Channel"), lambda r: CHANNELS.get(r.Notification.channel, r.Notification.channel)),
        Column("recipient", _l("Recipient"), lambda r: r.Notification.recipient or ""),
        Column("subject", _l("Subject"), lambda r: r.Notification.subject),
        Column("result", _l("Result"), lambda r: RESULTS.get(r.Notification.result, r.Notification.result)),
        Column("error", _l("Error"), lambda r: r.Notification.error or ""),
    ]


def notification_fields() -> list[Field]:
    return [
        Field(_l("Sent at"), Notification.created_on, local_time),
        Field(_l("Enterprise"), Enterprise.name),
        Field(_l("Unified social credit code"), Enterprise.credit_code),
        Field(_l("Channel"), Notification.channel, labelled(CHANNELS)),
        Field(_l("Recipient"), Notification.recipient),
        Field(_l("Subject"), Notification.subject),
        Field(_l("Content"), Notification.body),
        Field(_l("Result"), Notification.result, labelled(RESULTS)),
        Field(_l("Error"), Notification.error),
    ]


class NotificationAdminView(BaseView):
    """Messages and SMS sent to enterprises (read-only)."""

    route_base = "/backoffice/notifications"
    class_permission_name = "NotificationLog"
    default_view = "index"

    def _filtered(self):
        args = request.args
        query = select(Notification, Enterprise.name.label("enterprise_name")).outerjoin(
            Enterprise, Enterprise.id == Notification.enterprise_id
        )
        if args.get("channel") in CHANNELS:
            query = query.where(Notification.channel == args["channel"])
        if args.get("result") in RESULTS:
            query = query.where(Notification.result == args["result"])
        if args.get("enterprise"):
            needle = args["enterprise"].strip()
            query = query.where(contains_text(Enterprise.name, needle) | (Enterprise.credit_code == needle.upper()))
        first_day, last_day = _date_arg("from"), _date_arg("to")
        if first_day:
            query = query.where(Notification.created_on >= dt.datetime.combine(first_day, dt.time()) - SHANGHAI)
        if last_day:
            upper = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time()) - SHANGHAI
            query = query.where(Notification.created_on < upper)
        return scoped(query, Notification), (Notification.id.desc(),)

    @expose("/")
    @has_access
    def index(self):
        query, order = self._filtered()
        # no count of a growing log: one row more than the page says whether there is a next page
        page = paginate(query, order, page_number(), page_size(PAGE_SIZE), counted=False, tuples=True)
        return self.render_template(
            "lists/notifications.html",
            rows=page.rows,
            page=page.number,
            size=page.size,
            has_next=page.has_next,
            columns=notification_columns(),
            channels=CHANNELS,
            results=RESULTS,
            args=request.args,
        )

    @expose("/csv")
    @has_access
    def csv(self):
        """导出 CSV: every message the current filters select."""
        query, order = self._filtered()
        filters = described_filters(
            {
                "channel": (_l("Channel"), CHANNELS),
                "result": (_l("Result"), RESULTS),
                "enterprise": (_l("Enterprise"), None),
                "from": (_l("Sent from"), None),
                "to": (_l("Sent until"), None),
            }
        )
        return export_csv(notification_fields(), query, str(_l("Messages sent")), filters, order)

"""站内消息: the in-app messages of the signed-in account, newest first, 25 a page."""

from __future__ import annotations

from flask import g, url_for
from flask_appbuilder import BaseView, expose, has_access
from sqlalchemy import select, update

from .. import db
from ..lists import page_size, paginate
from ..models import Application, Notification, utcnow
from ..portal import detail_endpoints
from .common import page_number

PAGE_SIZE = 25


class MessagesView(BaseView):
    route_base = "/messages"
    class_permission_name = "Messages"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        # Only the account's own messages: the recipient is the signed-in user.
        query = (
            select(Notification, Application.kind)
            .outerjoin(Application, Application.id == Notification.application_id)
            .where(Notification.user_id == g.user.id, Notification.channel == "inapp")
        )
        page = paginate(
            query, (Notification.id.desc(),), page_number(), page_size(PAGE_SIZE), counted=False, tuples=True
        )
        rows = page.rows
        endpoints = detail_endpoints() if any(kind for _message, kind in rows) else {}
        messages = [
            (message, url_for(endpoints[kind], application_id=message.application_id) if kind in endpoints else None)
            for message, kind in rows
        ]
        unread_ids = [message.id for message, _url in messages if message.read_on is None]
        html = self.render_template("messages/index.html", messages=messages, unread_ids=set(unread_ids), page=page)
        if unread_ids:  # what the page showed is now read; later pages stay unread until opened
            db.session.execute(update(Notification).where(Notification.id.in_(unread_ids)).values(read_on=utcnow()))
            db.session.commit()
        return html

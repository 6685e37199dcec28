"""站内消息: the in-app messages of the signed-in account."""

from __future__ import annotations

from flask import g
from flask_appbuilder import BaseView, expose, has_access
from sqlalchemy import select, update

from .. import db
from ..models import Notification, utcnow


class MessagesView(BaseView):
    route_base = "/messages"
    class_permission_name = "Messages"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        # Only the account's own messages: the recipient is the signed-in user.
        messages = db.session.scalars(
            select(Notification)
            .where(Notification.user_id == g.user.id, Notification.channel == "inapp")
            .order_by(Notification.id.desc())
            .limit(200)
        ).all()
        unread_ids = [m.id for m in messages if m.read_on is None]
        page = self.render_template("messages/index.html", messages=messages, unread_ids=set(unread_ids))
        if unread_ids:
            db.session.execute(update(Notification).where(Notification.id.in_(unread_ids)).values(read_on=utcnow()))
            db.session.commit()
        return page

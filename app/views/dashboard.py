"""工作台: the back office home shows the signed-in reviewer's work — waiting applications, expiries,
training batches — and the trends, every number linking to the list it counts."""

from __future__ import annotations

from flask import current_app, g
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import lazy_gettext as _l

from .. import dashboard, sms_guard
from ..certificates import KINDS
from ..settings import payment_instructions_missing
from ..training import BATCH_STATES
from ..workflows import REGISTRY, may_review


def is_association_admin(user) -> bool:
    return user is not None and any(role.name in ("AssociationAdmin", "Admin") for role in user.roles)


class BackOfficeView(BaseView):
    """Association back office home (工作台)."""

    route_base = "/backoffice"
    class_permission_name = "BackOffice"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        workflows = [w for w in REGISTRY.values() if may_review(w, g.user)]
        home = current_app.config.get("HOME_PROVINCE_CODE", "34")
        charts = [
            dashboard.monthly_chart(workflows or REGISTRY.values()),
            dashboard.grid_chart(
                "members", _l("Members by tier and region"), dashboard.members_by_tier_and_region(home)
            ),
            dashboard.grid_chart(
                "certificates",
                _l("Qualification certificates by level and region"),
                dashboard.certificates_by_level_and_region(home),
            ),
        ]
        waiting = dashboard.waiting_counts(workflows)
        return self.render_template(
            "backoffice/index.html",
            alerts={
                "sms_budget_alert": is_association_admin(g.user) and sms_guard.budget_alert(),
                "payment_instructions_missing": is_association_admin(g.user) and payment_instructions_missing(),
            },
            registry=REGISTRY,
            waiting=waiting,
            waiting_total=sum(w.count for w in waiting),
            too_long_total=sum(w.too_long for w in waiting),
            today_total=sum(w.today for w in waiting),
            oldest=dashboard.oldest_waiting(workflows) if workflows else [],
            long_wait_days=dashboard.long_wait().days,
            expiry_days=dashboard.EXPIRY_DAYS,
            expiring_certificates=dashboard.expiring_certificates(),
            expiring_memberships=dashboard.expiring_memberships(),
            certificate_kinds=KINDS,
            batches=dashboard.training_batches(),
            batch_states=BATCH_STATES,
            charts=charts,
        )

"""定时任务 and 消息模板 in the back office: the scheduled jobs with their last runs (立即执行 for the
association's administrators), and the texts enterprises receive for each event."""

from __future__ import annotations

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, ModelView, expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import LazyString, format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms.validators import ValidationError

from .. import audit, db
from ..audit import AuditedModelViewMixin
from ..jobs import JOBS, RESULTS, TRIGGERS, describe_counts, recent_runs, run_job
from ..models import MessageTemplate
from ..notify import PLACEHOLDERS, check_template, unknown_placeholders
from ..scoping import ScopedActionsMixin
from .common import checkboxes

JOBS_PERMISSION_VIEW = "ScheduledJobs"


class JobsView(BaseView):
    """Each job, its schedule and its last runs; AssociationAdmin runs one now (POST, CSRF-checked)."""

    route_base = "/backoffice/jobs"
    class_permission_name = JOBS_PERMISSION_VIEW
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        runs = recent_runs()
        jobs = [(job, runs[name]) for name, job in JOBS.items()]
        may_run = self.appbuilder.sm.has_access("can_run", JOBS_PERMISSION_VIEW)
        return self.render_template(
            "jobs/index.html",
            jobs=jobs,
            may_run=may_run,
            results=RESULTS,
            triggers=TRIGGERS,
            describe_counts=describe_counts,
            when=lambda value: format_datetime(value, "yyyy-MM-dd HH:mm") if value else "",
        )

    @expose("/run", methods=["POST"])
    @has_access
    def run(self):
        name = request.form.get("job", "")
        if name not in JOBS:
            abort(404)
        run = run_job(name, trigger="manual", actor=g.user)
        audit.record("run_job", "JobRun", run.id if run else None, after={"job": name}, actor=g.user)
        db.session.commit()
        if run is not None and run.result == "ok":
            flash(
                _("“%(job)s” has run: %(counts)s", job=JOBS[name].label, counts=describe_counts(run.counts) or "—"),
                "success",
            )
        else:
            flash(_("“%(job)s” failed; see its last runs", job=JOBS[name].label), "danger")
        return redirect(url_for("JobsView.index"))


def _placeholder_help() -> str:
    return _("Placeholders: %(list)s", list="；".join(f"{{{name}}} {label}" for name, label in PLACEHOLDERS.items()))


def known_placeholders(form, field) -> None:
    """Form validator: the edit page shows the refusal beside the field and keeps what was typed."""
    unknown = unknown_placeholders(field.data)
    if unknown:
        raise ValidationError(
            _("Unknown placeholder(s): %(names)s", names="、".join(f"{{{name}}}" for name in unknown))
        )


class MessageTemplateView(AuditedModelViewMixin, ScopedActionsMixin, ModelView):
    """消息模板: what the enterprise is told for each event (站内消息 and SMS alike)."""

    datamodel = SQLAInterface(MessageTemplate)
    route_base = "/backoffice/message-templates"
    class_permission_name = "MessageTemplateConfig"
    include_route_methods = {"list", "show", "edit"}
    list_title = show_title = edit_title = _l("Message templates")
    list_columns = ["description", "subject", "enabled"]
    show_columns = ["description", "subject", "body", "enabled", "changed_on"]
    edit_columns = ["subject", "body", "enabled"]
    search_columns = ["description", "subject"]
    order_columns = ["description"]
    base_order = ("event", "asc")
    page_size = 50
    label_columns = {
        "description": _l("Event"),
        "subject": _l("Subject"),
        "body": _l("Text"),
        "enabled": _l("Send"),
        "changed_on": _l("Updated"),
    }
    formatters_columns = {"enabled": lambda value: _("Yes") if value else _("No")}
    edit_form_extra_fields = checkboxes(label_columns, "enabled", ticked=("enabled",))
    validators_columns = {"subject": [known_placeholders], "body": [known_placeholders]}
    description_columns = {"body": LazyString(_placeholder_help)}

    def prefill_form(self, form, pk):
        item = self.datamodel.get(pk)
        if item is not None:  # which event this text is for
            form.subject.description = _("Event: %(event)s", event=item.description)

    def pre_update(self, item):
        check_template(item.subject, item.body)
        if not (item.subject or "").strip() or not (item.body or "").strip():
            raise ValueError(_("Subject and text may not be empty"))
        super().pre_update(item)

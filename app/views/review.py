"""Association back office: review queues for every application type, audit log, configuration."""

from __future__ import annotations

import datetime as dt
import re

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, ModelView, expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, text
from sqlalchemy.orm import contains_eager
from wtforms.validators import ValidationError

from .. import db, regions
from ..audit import AuditedModelViewMixin, action_label
from ..audit import actor_label as audit_actor_label
from ..audit import changes as audit_changes
from ..audit import object_label as audit_object_label
from ..dashboard import long_wait, start_of_today, waiting_too_long_by_kind
from ..forms import ReviewForm
from ..lists import (
    Column,
    CsvExportMixin,
    Field,
    contains_text,
    described_filters,
    export_csv,
    joined_text,
    labelled,
    local_time,
    page_size,
    paginate,
)
from ..models import QUEUE_OPEN_PREDICATE, Application, AuditLog, Enterprise, MemberTier, Setting, utcnow
from ..numbering import PatternError, check_pattern
from ..scoping import ScopedActionsMixin, get_scoped_or_404, scoped
from ..settings import setting_help
from ..workflows import REGISTRY, Workflow, WorkflowError, apply, available, diagram, may_review, state_label
from .common import checkboxes, page_number

PAGE_SIZE = 50
SEARCH_COUNT_CAP = 1000


def _date_arg(name: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None


def _version(value: str | None) -> int | None:
    """The version the reviewer's page showed; the engine refuses the action if it changed since."""
    return int(value) if value and value.isdigit() else None


def _format_time(value):
    return format_datetime(value, "yyyy-MM-dd HH:mm") if value else ""


def queue_columns(workflow: Workflow) -> list[Column]:
    """The review queue's columns, for the HTML table and the CSV export alike."""
    now = utcnow()
    days = _("%(d)s day(s)")  # translated once, not once per row
    return [
        Column("id", _l("No."), lambda r: r.id),
        Column("enterprise", _l("Enterprise"), lambda r: r.enterprise.name),
        Column("credit_code", _l("Unified social credit code"), lambda r: r.enterprise.credit_code),
        Column("region", _l("Region"), lambda r: f"{r.enterprise.province} {r.enterprise.city}"),
        Column("submitted_on", _l("Submitted on"), lambda r: local_time(r.submitted_on)),
        Column("waiting", _l("Waiting"), lambda r: days % {"d": (now - (r.submitted_on or r.created_on)).days}),
        Column("status", _l("Status"), lambda r: workflow.label_of(r.status)),
    ]


def queue_export_fields(workflow: Workflow) -> list[Field]:
    """The queue's columns as the CSV selects them: column tuples, labels instead of codes."""
    model = workflow.model
    today = utcnow()
    days = _("%(d)s day(s)")
    return [
        Field(_l("No."), model.id),
        Field(_l("Enterprise"), Enterprise.name),
        Field(_l("Unified social credit code"), Enterprise.credit_code),
        Field(_l("Region"), joined_text(Enterprise.province, Enterprise.city)),
        Field(_l("Submitted on"), model.submitted_on, local_time),
        Field(
            _l("Waiting"),
            func.coalesce(model.submitted_on, model.created_on),
            lambda since: days % {"d": (today - since).days} if since else "",
        ),
        Field(_l("Status"), model.status, labelled({state: workflow.label_of(state) for state in workflow.states})),
    ]


class ReviewQueueView(BaseView):
    """One queue per application type, filtered and sorted by waiting time, with single and bulk actions."""

    route_base = "/backoffice/review"
    class_permission_name = "ReviewQueue"
    default_view = "overview"

    def _workflow(self, kind: str) -> Workflow:
        workflow = REGISTRY.get(kind)
        if workflow is None:
            abort(404)
        if not may_review(workflow, g.user):
            abort(403)
        return workflow

    @expose("/")
    @has_access
    def overview(self):
        workflows = [w for w in REGISTRY.values() if may_review(w, g.user)]
        counts = db.session.execute(
            select(Application.kind, Application.status, func.count()).group_by(Application.kind, Application.status)
        ).all()
        by_kind: dict[str, dict[str, int]] = {}
        for kind, status, count in counts:
            by_kind.setdefault(kind, {})[status] = count
        waiting_long = waiting_too_long_by_kind(workflows)
        return self.render_template(
            "review/overview.html",
            workflows=workflows,
            by_kind=by_kind,
            waiting_long=waiting_long,
            long_wait_days=long_wait().days,
        )

    def _filtered(self, workflow: Workflow):
        """The queue under the request's filters: the query of the ids alone (it reads the application table
        and its indexes only: the count, the page's keys), the query that loads rows, the order."""
        model = workflow.model
        args = request.args
        status = args.get("status", "open")
        conditions = [Application.kind == workflow.kind]  # the first column of the queue's indexes
        if status == "open":
            # a draft being filled in (the qualification wizard) is nothing the association can act on;
            # the literal predicate is the partial index's own, which SQLite needs word for word to use it
            conditions += [
                Application.status.in_([s for s in workflow.open_states if s != workflow.initial]),
                text(f"application.{QUEUE_OPEN_PREDICATE}"),
            ]
        elif status == "waiting":
            # the states in which the association has to act (the open view less the enterprise's turns)
            conditions += [
                Application.status.in_(workflow.waiting_states),
                text(f"application.{QUEUE_OPEN_PREDICATE}"),
            ]
        elif status in workflow.states:
            conditions.append(Application.status == status)
        # filters on the enterprise select its ids once (a scan of the enterprises, or the trigram indexes on
        # PostgreSQL) and test each application's against that set, instead of joining and testing each
        # application's enterprise. SQLite cannot tell how many enterprises a name matches and would look
        # every one up by enterprise and sort them all; `+ 0` keeps it on the queue's own order, which
        # stops after a page of matches and at worst reads one type's applications once.
        owner = Application.enterprise_id
        if db.session.get_bind().dialect.name == "sqlite":
            owner = owner + 0
        if args.get("enterprise"):
            needle = args["enterprise"].strip()
            matching = contains_text(Enterprise.name, needle) | contains_text(Enterprise.credit_code, needle)
            conditions.append(owner.in_(select(Enterprise.id).where(matching)))
        if args.get("province"):
            in_province = Enterprise.region_code.startswith(args["province"])
            conditions.append(owner.in_(select(Enterprise.id).where(in_province)))
        submitted = func.coalesce(Application.submitted_on, Application.created_on)
        # 工作台's links: waiting longer than the setting's days, or received today (Asia/Shanghai)
        if args.get("submitted") == "long":
            conditions.append(submitted < utcnow() - long_wait())
        elif args.get("submitted") == "today":
            conditions.append(submitted >= start_of_today())
        first_day, last_day = _date_arg("from"), _date_arg("to")
        if first_day:
            conditions.append(submitted >= dt.datetime.combine(first_day, dt.time()))
        if last_day:
            conditions.append(submitted < dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time()))
        rows = scoped(
            select(model)
            .join(Enterprise, Enterprise.id == model.enterprise_id)
            .options(contains_eager(model.enterprise)),
            model,
        )
        keys = scoped(select(Application.id).where(*conditions), model)
        return keys, rows, (submitted.asc(), Application.id.asc()), status

    @expose("/<kind>/")
    @has_access
    def queue(self, kind: str):
        workflow = self._workflow(kind)
        keys, rows, order, status = self._filtered(workflow)
        # a name search may match a large part of the register: counted up to SEARCH_COUNT_CAP
        cap = SEARCH_COUNT_CAP if request.args.get("enterprise", "").strip() else None
        page = paginate(
            rows, order, page_number(), page_size(PAGE_SIZE), count_query=keys, key_query=keys, count_cap=cap
        )
        return self.render_template(
            "review/queue.html",
            workflow=workflow,
            page=page,
            columns=queue_columns(workflow),
            status=status,
            provinces=[(p.code, p.name) for p in regions.tree().values()],
            args=request.args,
            bulk_actions=[t for t in workflow.transitions if not t.owner_only],
            form=ReviewForm(),
            now=utcnow(),
            long_wait=long_wait(),
        )

    @expose("/<kind>/csv")
    @has_access
    def csv(self, kind: str):
        """导出 CSV: every row the queue's current filters select, not just the page."""
        workflow = self._workflow(kind)
        keys, rows, order, _status = self._filtered(workflow)
        query = rows.where(Application.id.in_(keys))
        statuses = {"open": _("Open"), "waiting": _("Waiting for the association"), "all": _("All")}
        statuses.update({state: workflow.label_of(state) for state in workflow.states})
        filters = described_filters(
            {
                "status": (_l("Status"), statuses),
                "enterprise": (_l("Enterprise name or credit code"), None),
                "province": (_l("Province"), {p.code: p.name for p in regions.tree().values()}),
                "from": (_l("Submitted from"), None),
                "to": (_l("Submitted until"), None),
                "submitted": (
                    _l("Submitted on"),
                    {"long": _("Waiting over %(d)s days", d=long_wait().days), "today": _("Received today")},
                ),
            }
        )
        return export_csv(queue_export_fields(workflow), query, str(workflow.label), filters, order)

    @expose("/<kind>/<int:application_id>")
    @has_access
    def detail(self, kind: str, application_id: int):
        workflow = self._workflow(kind)
        record = get_scoped_or_404(workflow.model, application_id)
        actions = available(record, g.user)
        return self.render_template(
            "review/detail.html",
            workflow=workflow,
            record=record,
            actions=actions,
            comment_needed_by=[t.label for t, _reason in actions if t.needs_comment],
            form=ReviewForm(),
            **workflow.fields_context(record),
        )

    @expose("/<kind>/<int:application_id>/act", methods=["POST"])
    @has_access
    def act(self, kind: str, application_id: int):
        workflow = self._workflow(kind)
        record = get_scoped_or_404(workflow.model, application_id)
        form = ReviewForm()
        if form.validate_on_submit():
            try:
                apply(
                    record,
                    form.transition.data,
                    g.user,
                    form.comment.data,
                    expected_version=_version(form.version.data),
                )
            except WorkflowError as error:
                flash(error.message, "danger")
            else:
                flash(_("Done: %(state)s", state=workflow.label_of(record.status)), "success")
        return redirect(url_for("ReviewQueueView.detail", kind=kind, application_id=application_id))

    @expose("/<kind>/bulk", methods=["POST"])
    @has_access
    def bulk(self, kind: str):
        workflow = self._workflow(kind)
        form = ReviewForm()
        ids = [int(value) for value in request.form.getlist("ids") if value.isdigit()]
        if not form.validate_on_submit() or not ids:
            flash(_("Please choose applications and an action"), "warning")
            return redirect(url_for("ReviewQueueView.queue", kind=kind))
        records = db.session.scalars(
            scoped(select(workflow.model).where(workflow.model.id.in_(ids)), workflow.model)
        ).all()
        done, failed = 0, []
        for record in records:
            try:
                apply(
                    record,
                    form.transition.data,
                    g.user,
                    form.comment.data,
                    expected_version=_version(request.form.get(f"version_{record.id}")),
                )
                done += 1
            except WorkflowError as error:
                failed.append(f"#{record.id} {record.enterprise.name}：{error.message}")
        if done:
            flash(_("%(n)s application(s) done", n=done), "success")
        for message in failed:
            flash(message, "danger")
        return redirect(url_for("ReviewQueueView.queue", kind=kind))


class WorkflowView(BaseView):
    """State diagrams generated from the transition tables."""

    route_base = "/backoffice/workflows"
    class_permission_name = "WorkflowDiagram"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        return self.render_template(
            "review/workflows.html",
            workflows=list(REGISTRY.values()),
            diagrams={k: diagram(k) for k in REGISTRY},
            state_label=state_label,
        )


class AuditLogView(CsvExportMixin, ScopedActionsMixin, ModelView):
    datamodel = SQLAInterface(AuditLog)
    route_base = "/backoffice/audit"
    class_permission_name = "AuditLog"
    include_route_methods = {"list", "show"}
    list_title = show_title = _l("Audit log")
    list_columns = ["at", "actor_name", "action", "object_type", "object_id", "comment", "ip"]
    show_columns = [
        "at",
        "actor_name",
        "action",
        "object_type",
        "object_id",
        "comment",
        "ip",
        "request_id",
    ]
    search_columns = ["actor_name", "action", "object_type", "object_id", "at", "ip"]
    base_order = ("id", "desc")
    page_size = 50
    formatters_columns = {
        "at": _format_time,
        "action": action_label,
        "object_type": audit_object_label,
        "actor_name": audit_actor_label,
    }
    show_template = "review/audit_show.html"
    label_columns = {
        "at": _l("Time"),
        "actor_name": _l("Operator"),
        "action": _l("Action"),
        "object_type": _l("Object type"),
        "object_id": _l("Object id"),
        "before": _l("Before"),
        "after": _l("After"),
        "comment": _l("Comment"),
        "ip": _l("IP address"),
        "request_id": _l("Request id"),
    }

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        # FAB's show page, with the field-by-field changes (字段: 旧值 → 新值) instead of raw JSON.
        widgets = self._show(pk)
        entry = self.datamodel.get(pk)
        return self.render_template(
            self.show_template,
            pk=pk,
            title=self.show_title,
            widgets=widgets,
            related_views=self._related_views,
            changes=audit_changes(entry) if entry is not None else [],
        )


class MemberTierView(AuditedModelViewMixin, ScopedActionsMixin, ModelView):
    datamodel = SQLAInterface(MemberTier)
    route_base = "/backoffice/member-tiers"
    class_permission_name = "MemberTierConfig"
    include_route_methods = {"list", "show", "add", "edit"}
    list_title = show_title = add_title = edit_title = _l("Member tiers and fees")
    list_columns = ["sort_order", "name", "annual_fee", "active"]
    add_columns = edit_columns = show_columns = ["name", "annual_fee", "sort_order", "active"]
    search_columns = ["name"]
    base_order = ("sort_order", "asc")
    label_columns = {
        "name": _l("Tier"),
        "annual_fee": _l("Annual fee (yuan)"),
        "sort_order": _l("Order"),
        "active": _l("In use"),
    }
    # 在用 can be turned off (FAB's InputRequired on a non-nullable boolean refuses an unticked box)
    add_form_extra_fields = edit_form_extra_fields = checkboxes(label_columns, "active", ticked=("active",))
    validators_columns = {
        "annual_fee": [lambda form, field: _non_negative(field)],
    }


def _non_negative(field) -> None:
    if field.data is None or field.data < 0:
        raise ValidationError(_("Must not be negative"))


def check_setting_value(key: str, value: str) -> None:
    """Refuse a setting the platform could not use (raised message is shown by FAB)."""
    if key.startswith("number_pattern."):
        try:
            check_pattern(value or "")
        except PatternError:
            raise ValueError(_("The pattern must contain {seq}, for example 皖安协会[{year}]第{seq:04d}号")) from None
    elif key == "jobs.reminder_days":
        days = [item.strip() for item in (value or "").replace("，", ",").split(",") if item.strip()]
        if not days or not all(item.isdigit() and 0 < int(item) <= 3650 for item in days):
            raise ValueError(_("Please enter numbers of days separated by commas, for example 90,30,7"))
    elif key.startswith("jobs.") and key.endswith("_at"):
        if not re.fullmatch(r"([01]?\d|2[0-3])[:：][0-5]\d", (value or "").strip()):
            raise ValueError(_("Please enter a time of day as hours:minutes, for example 08:00"))
    elif key.startswith("jobs.") and key.endswith(("_minutes", "_attempts")):
        if not (value or "").strip().isdigit() or int(value) < 1:
            raise ValueError(_("Please enter a whole number of at least 1"))
    elif (key.endswith(("_seconds", "_months")) or "_days" in key) and not (value or "").strip().isdigit():
        raise ValueError(_("Please enter a whole number"))


class SettingView(AuditedModelViewMixin, ScopedActionsMixin, ModelView):
    datamodel = SQLAInterface(Setting)
    route_base = "/backoffice/settings"
    class_permission_name = "SettingConfig"
    include_route_methods = {"list", "show", "edit"}
    list_title = show_title = edit_title = _l("System settings")
    # The key is for code: the association reads the setting's name and what it does.
    list_columns = ["description", "key"]
    show_columns = ["description", "key", "value"]
    edit_columns = ["value"]
    search_columns = ["description"]
    base_order = ("key", "asc")
    label_columns = {"key": _l("What it does"), "value": _l("Value"), "description": _l("Setting")}
    formatters_columns = {"key": setting_help}

    def prefill_form(self, form, pk):
        # The edit form names the parameter it changes and says what it does.
        item = self.datamodel.get(pk)
        if item is not None:
            form.value.label.text = item.description or _("Value")
            form.value.description = setting_help(item.key)

    def pre_update(self, item):
        check_setting_value(item.key, item.value)
        super().pre_update(item)

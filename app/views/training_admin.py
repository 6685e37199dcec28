"""培训管理 in the back office: training batches, enrolments and results, every enterprise's staff."""

from __future__ import annotations

import re

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, ModelView, expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, inspect, select, union
from sqlalchemy.orm import aliased, contains_eager, joinedload
from wtforms import SelectField

from .. import db
from ..audit import AuditedModelViewMixin
from ..lists import Field, contains_text, described_filters, export_csv, labelled, page_size, paginate
from ..models import Enrollment, Enterprise, TechnicalStaff, TrainingBatch
from ..scoping import ScopedActionsMixin, get_scoped_or_404, scoped
from ..staff import (
    GENDERS,
)
from ..training import (
    BATCH_STATES,
    ENROLLMENT_ACTIONS,
    ENROLLMENT_STATES,
    ResultsTooEarly,
    notify_enrollments,
    record_results,
)
from .common import page_number


class TrainingBatchView(AuditedModelViewMixin, ScopedActionsMixin, ModelView):
    datamodel = SQLAInterface(TrainingBatch)
    route_base = "/backoffice/training/batches"
    class_permission_name = "TrainingBatchAdmin"
    include_route_methods = {"list", "show", "add", "edit"}
    list_title = show_title = add_title = edit_title = _l("Training batches")
    list_columns = ["name", "starts_on", "ends_on", "place", "capacity", "signup_closes_on", "status"]
    add_columns = edit_columns = show_columns = [
        "name",
        "notice",
        "starts_on",
        "ends_on",
        "place",
        "capacity",
        "fee",
        "signup_opens_on",
        "signup_closes_on",
        "status",
    ]
    search_columns = ["name", "place", "status", "starts_on"]
    base_order = ("starts_on", "desc")
    label_columns = {
        "name": _l("Batch"),
        "notice": _l("Sign-up notice"),
        "starts_on": _l("Starts on"),
        "ends_on": _l("Ends on"),
        "place": _l("Place"),
        "capacity": _l("Capacity"),
        "fee": _l("Training fee (yuan)"),
        "signup_opens_on": _l("Sign-up opens"),
        "signup_closes_on": _l("Sign-up closes"),
        "status": _l("Status"),
    }
    add_form_extra_fields = edit_form_extra_fields = {
        "status": SelectField(_l("Status"), choices=list(BATCH_STATES.items()), default="open"),
    }
    formatters_columns = {"status": lambda code: str(BATCH_STATES.get(code, code))}

    def pre_add(self, item):
        check_batch(item)
        super().pre_add(item)

    def pre_update(self, item):
        check_batch(item)
        status = inspect(item).attrs.status.history
        # Kept on the item (not the view, which every request shares) until FAB has committed.
        item.cancelled_now = item.status == "cancelled" and bool(status.deleted) and "cancelled" not in status.deleted
        super().pre_update(item)

    def post_update(self, item):
        super().post_update(item)
        if getattr(item, "cancelled_now", False):
            ids = db.session.scalars(select(Enrollment.id).where(Enrollment.batch_id == item.id)).all()
            notify_enrollments(item, "batch_cancelled", list(ids))


def check_batch(batch: TrainingBatch) -> None:
    if batch.status not in BATCH_STATES:
        raise ValueError(_("Please choose a status"))
    if batch.ends_on < batch.starts_on or batch.signup_closes_on < batch.signup_opens_on:
        raise ValueError(_("An end date is before its start date"))
    if batch.capacity is None or batch.capacity < 1:
        raise ValueError(_("The capacity must be at least 1"))


class EnrollmentAdminView(BaseView):
    """Enrolments of one batch: confirm, record results in bulk; passing issues the certificate number."""

    route_base = "/backoffice/training"
    class_permission_name = "EnrollmentAdmin"
    default_view = "overview"

    @expose("/")
    @has_access
    def overview(self):
        batches = db.session.execute(
            select(TrainingBatch, func.count(Enrollment.id))
            .outerjoin(Enrollment, Enrollment.batch_id == TrainingBatch.id)
            .group_by(TrainingBatch.id)
            .order_by(TrainingBatch.starts_on.desc())
        ).all()
        return self.render_template("training/admin_overview.html", batches=batches, batch_states=BATCH_STATES)

    @expose("/<int:batch_id>/")
    @has_access
    def enrollments(self, batch_id: int):
        batch = db.session.get(TrainingBatch, batch_id) or abort(404)
        status = request.args.get("status", "")
        query = select(Enrollment).where(Enrollment.batch_id == batch.id)
        if status in ENROLLMENT_STATES:
            query = query.where(Enrollment.status == status)
        page = paginate(
            query.options(joinedload(Enrollment.staff), joinedload(Enrollment.enterprise)),
            (Enrollment.id,),
            page_number(),
            page_size(),
            count_query=query,
        )
        return self.render_template(
            "training/admin_enrollments.html", batch=batch, page=page, states=ENROLLMENT_STATES, status=status
        )

    @expose("/<int:batch_id>/csv")
    @has_access
    def csv(self, batch_id: int):
        """导出 CSV of the batch's enrolments with the list's status filter."""
        batch = db.session.get(TrainingBatch, batch_id) or abort(404)
        status = request.args.get("status", "")
        query = (
            select(Enrollment)
            .join(TechnicalStaff, TechnicalStaff.id == Enrollment.staff_id)
            .join(Enterprise, Enterprise.id == Enrollment.enterprise_id)
            .where(Enrollment.batch_id == batch.id)
        )
        if status in ENROLLMENT_STATES:
            query = query.where(Enrollment.status == status)
        fields = [
            Field(_l("Name"), TechnicalStaff.name),
            Field(_l("ID card number"), Enrollment.id_number),
            Field(_l("Enterprise"), Enterprise.name),
            Field(_l("Professional title"), TechnicalStaff.title),
            Field(_l("Status"), Enrollment.status, labelled(ENROLLMENT_STATES)),
            Field(_l("Training certificate number"), Enrollment.certificate_number),
            Field(_l("Result date"), Enrollment.result_on),
        ]
        title = f"{batch.name}-{_('Enrolments')}"
        filters = {str(_l("Batch")): batch.name, **described_filters({"status": (_l("Status"), ENROLLMENT_STATES)})}
        return export_csv(fields, scoped(query, Enrollment), title, filters, (Enrollment.id,))

    @expose("/<int:batch_id>/act", methods=["POST"])
    @has_access
    def act(self, batch_id: int):
        batch = db.session.get(TrainingBatch, batch_id) or abort(404)
        action = request.form.get("action")
        if action not in ENROLLMENT_ACTIONS:
            abort(400)
        ids = [int(v) for v in request.form.getlist("ids") if v.isdigit()]
        try:
            done, skipped = record_results(batch, action, ids, g.user)
        except ResultsTooEarly as error:
            flash(error.message, "danger")
            return redirect(url_for("EnrollmentAdminView.enrollments", batch_id=batch.id))
        flash(_("%(n)s enrolment(s) updated", n=done), "success")
        if skipped:
            flash(_("%(n)s enrolment(s) were not in a state that allows this action", n=skipped), "warning")
        return redirect(url_for("EnrollmentAdminView.enrollments", batch_id=batch.id))


def other_employers_column():
    """Correlated count: the same person on the active staff list of another enterprise."""
    other = aliased(TechnicalStaff)
    return (
        select(func.count(other.id))
        .where(
            other.id_number == TechnicalStaff.id_number,
            other.enterprise_id != TechnicalStaff.enterprise_id,
            other.archived.is_(False),
        )
        .correlate(TechnicalStaff)
        .scalar_subquery()
    )


# what may be part of an ID card number (18 digits, the last possibly X)
ID_FRAGMENT = re.compile(r"[0-9Xx]+")


class StaffSearchView(BaseView):
    """Technical staff of every enterprise, read-only; people on two enterprises' books are flagged."""

    route_base = "/backoffice/staff"
    class_permission_name = "StaffSearch"
    default_view = "search"
    page_size = 50

    def _filtered(self, elsewhere):
        q = request.args.get("q", "").strip()
        query = scoped(select(TechnicalStaff, elsewhere), TechnicalStaff).join(
            Enterprise, Enterprise.id == TechnicalStaff.enterprise_id
        )
        if q:
            query = query.where(TechnicalStaff.id.in_(self._matching(q)) if self._indexed(q) else self._matches(q))
        if request.args.get("flagged") == "1":
            query = query.where(elsewhere > 0)
        return query

    @staticmethod
    def _matches(q: str):
        """People whose name (or ID number) contains q, or whose enterprise's name does. The enterprises are
        matched once (a set of ids), not joined and tested per person; the ID number only when q could be
        part of one (digits and X)."""
        person = contains_text(TechnicalStaff.name, q)
        if ID_FRAGMENT.fullmatch(q):
            person = person | contains_text(TechnicalStaff.id_number, q)
        enterprises = select(Enterprise.id).where(contains_text(Enterprise.name, q))
        return person | TechnicalStaff.enterprise_id.in_(enterprises)

    @staticmethod
    def _indexed(q: str) -> bool:
        """PostgreSQL's trigram indexes serve a “contains” of three characters or more."""
        return len(q) >= 3 and db.session.get_bind().dialect.name == "postgresql"

    @staticmethod
    def _matching(q: str):
        """The ids `_matches` selects, as a union of lookups that each use an index (trigrams on the name,
        the ID number and the enterprise's name; staff by enterprise), instead of one OR that reads all."""
        by_person = [select(TechnicalStaff.id).where(contains_text(TechnicalStaff.name, q))]
        if ID_FRAGMENT.fullmatch(q):
            by_person.append(select(TechnicalStaff.id).where(contains_text(TechnicalStaff.id_number, q)))
        enterprises = select(Enterprise.id).where(contains_text(Enterprise.name, q))
        by_enterprise = select(TechnicalStaff.id).where(TechnicalStaff.enterprise_id.in_(enterprises))
        return union(*by_person, by_enterprise)

    @expose("/")
    @has_access
    def search(self):
        q = request.args.get("q", "").strip()
        flagged = request.args.get("flagged") == "1"
        elsewhere = other_employers_column().label("elsewhere")
        query = self._filtered(elsewhere).options(contains_eager(TechnicalStaff.enterprise))
        # no count over 200,000 people: one row beyond the page says whether there is a next one
        page = paginate(
            query, (TechnicalStaff.id.desc(),), page_number(), page_size(self.page_size), counted=False, tuples=True
        )
        return self.render_template(
            "training/admin_staff.html",
            rows=page.rows,
            has_next=page.has_next,
            q=q,
            flagged=flagged,
            page=page.number,
            page_size=page.size,
            genders=GENDERS,
        )

    @expose("/csv")
    @has_access
    def csv(self):
        """导出 CSV of every person the search selects, not just the page."""
        elsewhere = other_employers_column()
        fields = [
            Field(_l("Name"), TechnicalStaff.name),
            Field(_l("Gender"), TechnicalStaff.gender, labelled(GENDERS)),
            Field(_l("ID card number"), TechnicalStaff.id_number),
            Field(_l("Enterprise"), Enterprise.name),
            Field(_l("Professional title"), TechnicalStaff.title),
            Field(_l("Position"), TechnicalStaff.position),
            Field(_l("Months of social insurance with the enterprise"), TechnicalStaff.insurance_months),
            Field(_l("Also employed elsewhere"), elsewhere),
            Field(_l("Archived"), TechnicalStaff.archived),
        ]
        filters = described_filters(
            {"q": (_l("Search"), None), "flagged": (_l("Also employed elsewhere"), {"1": _("Yes")})}
        )
        query = self._filtered(elsewhere)
        return export_csv(fields, query, str(_l("Technical staff")), filters, (TechnicalStaff.id.desc(),))

    @expose("/<int:staff_id>")
    @has_access
    def detail(self, staff_id: int):
        staff = get_scoped_or_404(TechnicalStaff, staff_id)
        others = db.session.scalars(
            select(TechnicalStaff)
            .where(TechnicalStaff.id_number == staff.id_number, TechnicalStaff.id != staff.id)
            .options(joinedload(TechnicalStaff.enterprise))
        ).all()
        enrollments = db.session.scalars(
            select(Enrollment).where(Enrollment.staff_id == staff.id).options(joinedload(Enrollment.batch))
        ).all()
        return self.render_template(
            "training/admin_staff_detail.html",
            staff=staff,
            others=others,
            enrollments=enrollments,
            genders=GENDERS,
            states=ENROLLMENT_STATES,
        )

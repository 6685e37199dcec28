"""技术培训 (manual: 1-1 添加技术人员, 1-2 技术人员报名) in the portal, and training in the back office."""

from __future__ import annotations

import datetime as dt

from flask import Response, abort, flash, g, redirect, request, session, url_for
from flask_appbuilder import BaseView, ModelView, expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import aliased, joinedload
from wtforms import SelectField

from .. import audit, db
from ..audit import AuditedModelViewMixin
from ..forms import CertificateForm, StaffForm, UploadForm
from ..models import AuditLog, Enrollment, Enterprise, StaffCertificate, TechnicalStaff, TrainingBatch
from ..scoping import ScopedActionsMixin, get_scoped_or_404, scoped
from ..spreadsheets import SheetRejected, error_workbook, read_rows, template
from ..staff import (
    ERROR_SHEET_PURPOSE,
    FIELDS,
    GENDERS,
    STAFF_COLUMNS,
    StaffRejected,
    batch_open_problem,
    check_staff,
    purge_error_workbooks_now_and_then,
    save_staff,
    seats_taken,
    sign_up,
    staff_choices,
)
from ..training import ENROLLMENT_ACTIONS, ENROLLMENT_STATES, record_results
from ..uploads import UploadRejected, save_upload, store_generated
from .common import flash_form_errors, page_number

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_WORKBOOK_BYTES = 20 * 1024 * 1024


BATCH_STATES = {
    "draft": _l("Draft (not shown)"),
    "open": _l("Open for sign-up"),
    "closed": _l("Sign-up closed"),
    "finished": _l("Finished"),
}


def notice_key(batch_id: int) -> str:
    return f"training_notice_{batch_id}"


def open_batches() -> list[TrainingBatch]:
    today = dt.date.today()
    return db.session.scalars(
        select(TrainingBatch)
        .where(TrainingBatch.status == "open", TrainingBatch.signup_closes_on >= today)
        .order_by(TrainingBatch.starts_on)
    ).all()


def fill_choices(form: StaffForm) -> None:
    choices = staff_choices()
    form.education.choices = [(c, c) for c in choices["educations"]]
    form.title.choices = [(c, c) for c in choices["titles"]]
    form.position.choices = [(c, c) for c in choices["positions"]]


class TrainingView(BaseView):
    route_base = "/training"
    class_permission_name = "Training"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        show_archived = request.args.get("archived") == "1"
        staff = db.session.scalars(
            scoped(select(TechnicalStaff), TechnicalStaff)
            .where(TechnicalStaff.archived.is_(show_archived))
            .order_by(TechnicalStaff.id.desc())
        ).all()
        enrollments = db.session.scalars(
            scoped(select(Enrollment), Enrollment)
            .options(joinedload(Enrollment.batch), joinedload(Enrollment.staff))
            .order_by(Enrollment.id.desc())
            .limit(200)
        ).all()
        return self.render_template(
            "training/index.html",
            staff=staff,
            batches=open_batches(),
            enrollments=enrollments,
            show_archived=show_archived,
            states=ENROLLMENT_STATES,
            genders=GENDERS,
        )

    def _staff_form(self, staff: TechnicalStaff | None):
        form = StaffForm()
        fill_choices(form)
        for key, _label, required in FIELDS:
            getattr(form, key).flags.required = required  # the star; the rule itself is in check_staff
        if request.method == "GET" and staff is not None:
            for key in STAFF_COLUMNS:
                getattr(form, key).data = getattr(staff, key)
        if request.method == "POST" and form.validate_on_submit():
            values, errors = check_staff(request.form)
            for key, message in errors.items():
                getattr(form, key).errors = [*getattr(form, key).errors, message]
            photo = request.files.get("photo")
            if not errors:
                try:
                    photo_file = (
                        save_upload(
                            photo,
                            purpose="staff_photo",
                            enterprise_id=g.user.enterprise_id,
                            uploaded_by_id=g.user.id,
                            accept=("image",),
                        )
                        if photo and photo.filename
                        else None
                    )
                    saved = save_staff(g.user.enterprise_id, values, staff)
                    if photo_file is not None:
                        saved.photo_file_id = photo_file.id
                    db.session.commit()
                except StaffRejected as error:
                    db.session.rollback()
                    form.id_number.errors = [*form.id_number.errors, error.message]
                except UploadRejected as error:
                    db.session.rollback()
                    form.photo.errors = [error.message]
                else:
                    flash(_("The staff member has been saved"), "success")
                    return redirect(url_for("TrainingView.staff_detail", staff_id=saved.id))
        return self.render_template("training/staff_form.html", form=form, staff=staff)

    @expose("/staff/new", methods=["GET", "POST"])
    @has_access
    def new_staff(self):
        return self._staff_form(None)

    @expose("/staff/<int:staff_id>/edit", methods=["GET", "POST"])
    @has_access
    def edit_staff(self, staff_id: int):
        return self._staff_form(get_scoped_or_404(TechnicalStaff, staff_id))

    @expose("/staff/<int:staff_id>")
    @has_access
    def staff_detail(self, staff_id: int):
        staff = get_scoped_or_404(TechnicalStaff, staff_id)
        enrollments = db.session.scalars(
            select(Enrollment)
            .where(Enrollment.staff_id == staff.id)
            .options(joinedload(Enrollment.batch))
            .order_by(Enrollment.id.desc())
        ).all()
        history = db.session.scalars(
            select(AuditLog)
            .where(AuditLog.object_type == "TechnicalStaff", AuditLog.object_id == str(staff.id))
            .order_by(AuditLog.id.desc())
        ).all()
        return self.render_template(
            "training/staff_detail.html",
            staff=staff,
            enrollments=enrollments,
            history=history,
            certificate_form=CertificateForm(),
            states=ENROLLMENT_STATES,
            genders=GENDERS,
            batches=open_batches(),
        )

    @expose("/staff/<int:staff_id>/archive", methods=["POST"])
    @has_access
    def archive_staff(self, staff_id: int):
        staff = get_scoped_or_404(TechnicalStaff, staff_id)
        staff.archived = not staff.archived
        audit.record("archive" if staff.archived else "restore", "TechnicalStaff", staff.id)
        db.session.commit()
        flash(_("Archived") if staff.archived else _("Restored"), "success")
        return redirect(url_for("TrainingView.staff_detail", staff_id=staff.id))

    @expose("/staff/<int:staff_id>/delete", methods=["POST"])
    @has_access
    def delete_staff(self, staff_id: int):
        staff = get_scoped_or_404(TechnicalStaff, staff_id)
        used = db.session.scalar(select(func.count()).select_from(Enrollment).where(Enrollment.staff_id == staff.id))
        if used:
            flash(
                _("This staff member is part of a training sign-up and cannot be deleted; archive it instead"),
                "warning",
            )
            return redirect(url_for("TrainingView.staff_detail", staff_id=staff.id))
        audit.record("delete", "TechnicalStaff", staff.id, before=audit.snapshot(staff, STAFF_COLUMNS))
        db.session.execute(StaffCertificate.__table__.delete().where(StaffCertificate.staff_id == staff.id))
        db.session.delete(staff)
        db.session.commit()
        flash(_("Deleted"), "success")
        return redirect(url_for("TrainingView.index"))

    @expose("/staff/<int:staff_id>/certificates", methods=["POST"])
    @has_access
    def add_certificate(self, staff_id: int):
        staff = get_scoped_or_404(TechnicalStaff, staff_id)
        form = CertificateForm()
        if not form.validate_on_submit():
            flash_form_errors(form)
            return redirect(url_for("TrainingView.staff_detail", staff_id=staff.id))
        try:
            scan = request.files.get("scan")
            stored = (
                save_upload(
                    scan, purpose="staff_certificate", enterprise_id=staff.enterprise_id, uploaded_by_id=g.user.id
                )
                if scan and scan.filename
                else None
            )
        except UploadRejected as error:
            db.session.rollback()
            flash(error.message, "danger")
            return redirect(url_for("TrainingView.staff_detail", staff_id=staff.id))
        db.session.add(
            StaffCertificate(
                staff_id=staff.id,
                enterprise_id=staff.enterprise_id,
                kind=form.kind.data.strip(),
                number=form.number.data.strip(),
                grade=(form.grade.data or "").strip() or None,
                issued_on=form.issued_on.data,
                expires_on=form.expires_on.data,
                scan_file_id=stored.id if stored else None,
            )
        )
        audit.record(
            "certificate", "TechnicalStaff", staff.id, after={"kind": form.kind.data, "number": form.number.data}
        )
        db.session.commit()
        flash(_("The certificate has been added"), "success")
        return redirect(url_for("TrainingView.staff_detail", staff_id=staff.id))

    def _batch(self, batch_id: int) -> TrainingBatch:
        batch = db.session.get(TrainingBatch, batch_id)
        if batch is None or batch.status == "draft":
            abort(404)
        return batch

    def _notice_read(self, batch: TrainingBatch):
        if not session.get(notice_key(batch.id)):
            flash(_("Please read the sign-up notice first"), "warning")
            return redirect(url_for("TrainingView.batch_notice", batch_id=batch.id))
        return None

    @expose("/batch/<int:batch_id>")
    @has_access
    def batch_notice(self, batch_id: int):
        """报名须知: must be opened before signing anybody up."""
        batch = self._batch(batch_id)
        session[notice_key(batch.id)] = True
        return self.render_template(
            "training/batch.html",
            batch=batch,
            taken=seats_taken(batch.id),
            problem=batch_open_problem(batch),
            form=UploadForm(),
        )

    @expose("/batch/<int:batch_id>/template.xlsx")
    @has_access
    def batch_template(self, batch_id: int):
        batch = self._batch(batch_id)
        refusal = self._notice_read(batch)
        if refusal:
            return refusal
        response = Response(template(batch.name, batch.notice), mimetype=XLSX)
        response.headers["Content-Disposition"] = "attachment; filename*=UTF-8''%E6%8A%A5%E5%90%8D%E8%A1%A8.xlsx"
        return response

    @expose("/batch/<int:batch_id>/upload", methods=["POST"])
    @has_access
    def batch_upload(self, batch_id: int):
        """批量报名: 上传报名表 -> 确定. All rows or none."""
        batch = self._batch(batch_id)
        refusal = self._notice_read(batch)
        if refusal:
            return refusal
        form = UploadForm()
        if not form.validate_on_submit():
            abort(400)
        upload = request.files.get("workbook")
        if upload is None or not upload.filename:
            flash(_("Please choose the filled-in 报名表"), "danger")
            return redirect(url_for("TrainingView.batch_notice", batch_id=batch.id))
        data = upload.stream.read(MAX_WORKBOOK_BYTES + 1)
        try:
            if len(data) > MAX_WORKBOOK_BYTES:
                raise SheetRejected(_("The file is too large; the limit is %(mb)s MB", mb=20))
            rows = read_rows(data)
        except SheetRejected as error:
            flash(error.message, "danger")
            return redirect(url_for("TrainingView.batch_notice", batch_id=batch.id))
        result = sign_up(batch.id, g.user.enterprise_id, rows, uploaded_by=g.user)
        if result.errors:
            stored = store_generated(
                error_workbook(rows, result.errors),
                original_name="报名表-错误说明.xlsx",
                content_type=XLSX,
                purpose=ERROR_SHEET_PURPOSE,
                enterprise_id=g.user.enterprise_id,
            )
            db.session.commit()
            purge_error_workbooks_now_and_then()
            return self.render_template(
                "training/upload_errors.html",
                batch=batch,
                errors=result.errors[:500],
                total_errors=len(result.errors),
                rows=len(rows),
                error_file=stored,
            )
        flash(
            _(
                "%(n)s people signed up (%(new)s new staff records, %(updated)s updated)",
                n=result.enrolled,
                new=result.created,
                updated=result.updated,
            ),
            "success",
        )
        return redirect(url_for("TrainingView.index"))

    @expose("/batch/<int:batch_id>/signup/<int:staff_id>", methods=["POST"])
    @has_access
    def signup_one(self, batch_id: int, staff_id: int):
        batch = self._batch(batch_id)
        staff = get_scoped_or_404(TechnicalStaff, staff_id)
        refusal = self._notice_read(batch)
        if refusal:
            return refusal
        raw = {key: getattr(staff, key) for key in STAFF_COLUMNS}
        result = sign_up(batch.id, staff.enterprise_id, [(0, raw)], uploaded_by=g.user)
        if result.errors:
            for _row, column, message in result.errors:
                flash(f"{staff.name} {column}：{message}" if column else message, "danger")
        else:
            flash(_("Signed up for %(batch)s", batch=batch.name), "success")
        # Back to where the button was: the staff list or the staff page.
        if request.form.get("back") == "list":
            return redirect(url_for("TrainingView.index"))
        return redirect(url_for("TrainingView.staff_detail", staff_id=staff.id))


# --- Back office -------------------------------------------------------------------------------


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
        "fee": _l("Fee (yuan)"),
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
        super().pre_update(item)


def check_batch(batch: TrainingBatch) -> None:
    if batch.status not in ("draft", "open", "closed", "finished"):
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
        query = (
            select(Enrollment)
            .where(Enrollment.batch_id == batch.id)
            .options(joinedload(Enrollment.staff), joinedload(Enrollment.enterprise))
            .order_by(Enrollment.id)
        )
        if status in ENROLLMENT_STATES:
            query = query.where(Enrollment.status == status)
        rows = db.session.scalars(query.limit(2000)).all()
        return self.render_template(
            "training/admin_enrollments.html", batch=batch, rows=rows, states=ENROLLMENT_STATES, status=status
        )

    @expose("/<int:batch_id>/act", methods=["POST"])
    @has_access
    def act(self, batch_id: int):
        batch = db.session.get(TrainingBatch, batch_id) or abort(404)
        action = request.form.get("action")
        if action not in ENROLLMENT_ACTIONS:
            abort(400)
        ids = [int(v) for v in request.form.getlist("ids") if v.isdigit()]
        done, skipped = record_results(batch, action, ids, g.user)
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


class StaffSearchView(BaseView):
    """Technical staff of every enterprise, read-only; people on two enterprises' books are flagged."""

    route_base = "/backoffice/staff"
    class_permission_name = "StaffSearch"
    default_view = "search"
    page_size = 50

    @expose("/")
    @has_access
    def search(self):
        q = request.args.get("q", "").strip()
        flagged = request.args.get("flagged") == "1"
        page = page_number()
        elsewhere = other_employers_column().label("elsewhere")
        query = scoped(select(TechnicalStaff, elsewhere), TechnicalStaff).options(joinedload(TechnicalStaff.enterprise))
        if q:
            needle = f"%{q}%"
            query = query.join(Enterprise, Enterprise.id == TechnicalStaff.enterprise_id).where(
                TechnicalStaff.name.ilike(needle)
                | TechnicalStaff.id_number.ilike(needle)
                | Enterprise.name.ilike(needle)
            )
        if flagged:
            query = query.where(elsewhere > 0)
        rows = db.session.execute(
            query.order_by(TechnicalStaff.id.desc()).limit(self.page_size).offset((page - 1) * self.page_size)
        ).all()
        return self.render_template(
            "training/admin_staff.html",
            rows=rows,
            q=q,
            flagged=flagged,
            page=page,
            page_size=self.page_size,
            genders=GENDERS,
        )

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

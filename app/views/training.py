"""技术培训 in the portal (manual: 1-1 添加技术人员, 1-2 技术人员报名); the back office is training_admin.py."""

from __future__ import annotations

from flask import Response, abort, flash, g, redirect, request, session, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from .. import audit, clock, db
from ..forms import CertificateForm, StaffForm, UploadForm
from ..lists import contains_text, paginate
from ..models import AuditLog, Enrollment, QualificationStaff, StaffCertificate, TechnicalStaff, TrainingBatch
from ..scoping import get_scoped_or_404, scoped
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
from ..training import ENROLLMENT_STATES
from ..uploads import UploadRejected, save_upload, store_generated
from .common import flash_form_errors, page_number

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_WORKBOOK_BYTES = 20 * 1024 * 1024
STAFF_PAGE_SIZE = 50
RECENT_SIGN_UPS = 50
MAX_SELECTED = STAFF_PAGE_SIZE


def notice_key(batch_id: int) -> str:
    return f"training_notice_{batch_id}"


def open_batches() -> list[TrainingBatch]:
    today = clock.today()
    return db.session.scalars(
        select(TrainingBatch)
        .where(TrainingBatch.status == "open", TrainingBatch.signup_closes_on >= today)
        .order_by(TrainingBatch.starts_on)
    ).all()


def signed_up_batches(batches: list[TrainingBatch], staff_ids: list[int]) -> dict[int, set[int]]:
    """Staff id -> ids of these batches the person (one of the enterprise's) is already signed up for."""
    if not batches or not staff_ids:
        return {}
    rows = db.session.execute(
        scoped(select(Enrollment.staff_id, Enrollment.batch_id), Enrollment).where(
            Enrollment.batch_id.in_([b.id for b in batches]), Enrollment.staff_id.in_(staff_ids)
        )
    )
    taken: dict[int, set[int]] = {}
    for staff_id, batch_id in rows:
        taken.setdefault(staff_id, set()).add(batch_id)
    return taken


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
        """The enterprise's staff, 50 a page, searchable; one form signs the ticked people up."""
        show_archived = request.args.get("archived") == "1"
        needle = request.args.get("q", "").strip()[:50]
        # "archived = ?" (not "IS"): PostgreSQL serves it from the (enterprise, archived, id) index
        query = scoped(select(TechnicalStaff), TechnicalStaff).where(TechnicalStaff.archived == show_archived)
        if needle:
            query = query.where(
                contains_text(TechnicalStaff.name, needle)
                | contains_text(TechnicalStaff.id_number, needle)
                | contains_text(TechnicalStaff.mobile, needle)
            )
        # Ordered by the whole index (the first two are fixed by the filter): PostgreSQL otherwise walks the
        # primary key backwards through every enterprise's staff when this one's are the oldest rows.
        newest_first = (TechnicalStaff.enterprise_id.desc(), TechnicalStaff.archived.desc(), TechnicalStaff.id.desc())
        page = paginate(query, newest_first, page_number(), STAFF_PAGE_SIZE)
        enrollments = db.session.scalars(
            scoped(select(Enrollment), Enrollment)
            .options(joinedload(Enrollment.batch), joinedload(Enrollment.staff).load_only(TechnicalStaff.name))
            .order_by(Enrollment.id.desc())
            .limit(RECENT_SIGN_UPS)
        ).all()
        batches = open_batches()
        return self.render_template(
            "training/index.html",
            page=page,
            staff=page.rows,
            q=needle,
            batches=batches,
            signed_up_batches=signed_up_batches(batches, [person.id for person in page.rows]),
            enrollments=enrollments,
            show_archived=show_archived,
            states=ENROLLMENT_STATES,
            genders=GENDERS,
            staff_prefix=url_for("TrainingView.index") + "staff/",
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
            counted=bool(enrollments) or staff_counted(staff.id),
            signed_up={e.batch_id for e in enrollments},
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

    @expose("/staff/<int:staff_id>/delete", methods=["GET", "POST"])
    @has_access
    def delete_staff(self, staff_id: int):
        """GET asks for confirmation naming the person; POST deletes someone never counted anywhere."""
        staff = get_scoped_or_404(TechnicalStaff, staff_id)
        if staff_counted(staff.id):
            flash(
                _(
                    "%(name)s has been counted in an application or a training sign-up and cannot be deleted; "
                    "archive the record instead",
                    name=staff.name,
                ),
                "warning",
            )
            return redirect(url_for("TrainingView.staff_detail", staff_id=staff.id))
        if request.method == "GET":
            return self.render_template("training/staff_delete.html", staff=staff)
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
        kind, number = form.kind.data.strip(), form.number.data.strip()
        if self._certificate_held(staff.id, kind, number):
            return self._certificate_already_added(staff.id)
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
                kind=kind,
                number=number,
                grade=(form.grade.data or "").strip() or None,
                issued_on=form.issued_on.data,
                expires_on=form.expires_on.data,
                scan_file_id=stored.id if stored else None,
            )
        )
        audit.record("certificate", "TechnicalStaff", staff.id, after={"kind": kind, "number": number})
        try:
            db.session.commit()
        except IntegrityError:
            # A simultaneous request added the same certificate first; the rollback deletes our scan.
            db.session.rollback()
            return self._certificate_already_added(staff.id)
        flash(_("The certificate has been added"), "success")
        return redirect(url_for("TrainingView.staff_detail", staff_id=staff.id))

    @staticmethod
    def _certificate_held(staff_id: int, kind: str, number: str) -> bool:
        return (
            db.session.scalar(
                select(StaffCertificate.id).where(
                    StaffCertificate.staff_id == staff_id,
                    StaffCertificate.kind == kind,
                    StaffCertificate.number == number,
                )
            )
            is not None
        )

    @staticmethod
    def _certificate_already_added(staff_id: int):
        flash(_("This certificate has already been added"), "info")
        return redirect(url_for("TrainingView.staff_detail", staff_id=staff_id))

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

    @expose("/batch/<int:batch_id>/signup", methods=["POST"])
    @has_access
    def signup_selected(self, batch_id: int):
        """报名 of the people ticked on the staff list (one form for the whole page), all or none."""
        batch = self._batch(batch_id)
        refusal = self._notice_read(batch)
        if refusal:
            return refusal
        back = url_for(
            "TrainingView.index",
            **{
                k: v
                for k, v in request.form.items()
                if k in ("q", "page", "archived") and v and (k, v) != ("page", "1")
            },
        )
        ids = {int(v) for v in request.form.getlist("staff_ids") if v.isascii() and v.isdigit() and len(v) <= 12}
        if not ids:
            flash(_("Please tick the people to sign up"), "warning")
            return redirect(back)
        if len(ids) > MAX_SELECTED:
            abort(400)
        people = db.session.scalars(
            scoped(select(TechnicalStaff), TechnicalStaff).where(TechnicalStaff.id.in_(ids)).order_by(TechnicalStaff.id)
        ).all()
        if len(people) != len(ids):
            abort(404)
        rows = [
            (number, {key: getattr(person, key) for key in STAFF_COLUMNS}) for number, person in enumerate(people, 1)
        ]
        result = sign_up(batch.id, g.user.enterprise_id, rows, uploaded_by=g.user)
        if result.errors:
            names = {number: person.name for number, person in enumerate(people, 1)}
            for row, column, message in result.errors:
                who = names.get(row, "")
                flash(f"{who} {column}：{message}" if column else f"{who} {message}".strip(), "danger")
        else:
            flash(_("%(n)s people signed up for %(batch)s", n=result.enrolled, batch=batch.name), "success")
        return redirect(back)


def staff_counted(staff_id: int) -> bool:
    """Whether the person was ever signed up for training or counted in a qualification application:
    such a record stays (archived if need be) so that what was counted can still be traced."""
    enrolled = select(Enrollment.id).where(Enrollment.staff_id == staff_id)
    counted = select(QualificationStaff.id).where(QualificationStaff.staff_id == staff_id)
    return bool(db.session.scalar(select(enrolled.exists() | counted.exists())))

"""资质管理 in the portal (manual: 资质申请, 资质年审, 六、资质晋级, 七、资质降级, 八、到期换证) and 我的证书.

Each type's page opens on step 1 (基本信息, with whether the enterprise may apply now and if not why)
→ 下一步 creates the server-side draft → 2 技术人员 (添加, 上传技术人员资料 → 保存, the yellow hint)
→ 下一步 → 3 评审材料 → 提交申请. The generic application pages give the list, the detail with the
review progress on the left, and the owner's 修改资料 / 撤回.
"""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from .. import db, qualification
from ..certificates import STATUSES, history
from ..forms import ConditionsForm, LevelForm, ProjectForm, ProofForm
from ..lists import contains_text, page_size, paginate
from ..models import Certificate, TechnicalStaff
from ..scoping import get_scoped_or_404, scoped
from ..uploads import UploadRejected
from ..workflows import WorkflowError, apply, can_edit
from ..workflows import qualification as wizard
from .applications import ApplicationPortalView, form_version
from .common import flash_form_errors, page_number

STEPS = (_l("Basic information"), _l("Technical staff"), _l("Review materials"))
PICK_PAGE_SIZE = 50


class QualificationPortalView(ApplicationPortalView):
    """One application type of 资质管理; subclasses name the kind and the route."""

    class_permission_name = "Qualification"
    index_template = "qualification/index.html"
    detail_template = "qualification/detail.html"
    msg_locked = _l("The association has received the materials; they can no longer be changed")
    list_extra_label = _l("Target level")
    list_loads = ("level",)

    @property
    def title(self):  # type: ignore[override]
        return self.workflow.label

    def list_extra(self, record: Any) -> Any:
        return record.level.name

    def _editable(self, application_id: int) -> Any:
        """The owner's application, while the wizard may change it."""
        record = self._own(application_id)
        if not can_edit(record, g.user):
            flash(str(self.msg_locked), "warning")
            return None
        return record

    def _step(self, record: Any, name: str):
        return redirect(url_for(self.endpoint_for(name), application_id=record.id))

    def _open_draft(self) -> Any:
        return db.session.scalars(
            scoped(select(self.model), self.model)
            .where(self.model.status.in_(wizard.EDITABLE))
            .order_by(self.model.id.desc())
            .limit(1)
        ).first()

    def index_context(self) -> dict[str, Any]:
        result = qualification.eligibility(self.kind, g.user.enterprise_id)
        form = LevelForm()
        form.level.choices = [(level.id, level.name) for level in result.levels]
        if len(result.levels) == 1:
            form.level.data = result.levels[0].id
        # one open application per enterprise: this type's draft, if any, is the one eligibility found
        pending = result.pending
        draft = pending if pending is not None and pending.kind == self.kind and pending.status in wizard.EDITABLE else None
        return {
            "eligibility": result,
            "draft": draft,
            "form": form,
            "enterprise": g.user.enterprise,
            "steps": STEPS,
            "level_names": qualification.level_names(),
        }

    # --- step 1: 基本信息 ------------------------------------------------------------------------

    @expose("/apply", methods=["GET", "POST"])
    @has_access
    def apply(self):
        """下一步 on step 1: the draft is created on the server (or the open one resumed)."""
        draft = self._open_draft()
        if draft is not None:
            return self._step(draft, "staff")
        if request.method == "GET":
            return redirect(url_for(self.endpoint_for("index")))
        result = qualification.eligibility(self.kind, g.user.enterprise_id)
        form = LevelForm()
        form.level.choices = [(level.id, level.name) for level in result.levels]
        if not form.validate_on_submit():
            flash_form_errors(form)
            return redirect(url_for(self.endpoint_for("index")))
        try:
            record = wizard.start(self.kind, g.user, form.level.data)
        except qualification.NotEligible as error:
            flash(error.message, "warning")
            return redirect(url_for(self.endpoint_for("index")))
        return self._step(record, "staff")

    @expose("/<int:application_id>/basic", methods=["GET", "POST"])
    @has_access
    def basic(self, application_id: int):
        record = self._editable(application_id)
        if record is None:
            return self._detail(self._own(application_id))
        result = qualification.eligibility(self.kind, g.user.enterprise_id, exclude_id=record.id)
        form = LevelForm()
        form.level.choices = [(level.id, level.name) for level in result.levels] or [
            (record.level_id, record.level.name)
        ]
        if request.method == "GET":
            form.level.data = record.level_id
        elif form.validate_on_submit():
            try:
                if form.level.data != record.level_id:
                    wizard.set_level(record, g.user, form.level.data, form_version())
            except (qualification.NotEligible, WorkflowError) as error:
                flash(error.message, "warning")
            else:
                return self._step(record, "staff")
        return self._render(
            "qualification/basic.html",
            record=record,
            form=form,
            eligibility=result,
            enterprise=record.enterprise,
            steps=STEPS,
            level_names=qualification.level_names(),
        )

    @expose("/<int:application_id>/edit", methods=["GET", "POST"])
    @has_access
    def edit(self, application_id: int):
        """修改资料 opens the wizard at its first step."""
        return redirect(url_for(self.endpoint_for("basic"), application_id=application_id))

    # --- step 2: 技术人员 ------------------------------------------------------------------------

    @expose("/<int:application_id>/staff")
    @has_access
    def staff(self, application_id: int):
        record = self._editable(application_id)
        if record is None:
            return self._detail(self._own(application_id))
        lines, _materials = qualification.verdict(record)
        persons = {p.staff_id: p for p in qualification.people([s.staff_id for s in record.staff])}
        return self._render(
            "qualification/staff.html",
            record=record,
            lines=lines,
            persons=persons,
            proof_form=ProofForm(),
            steps=STEPS,
        )

    @expose("/<int:application_id>/staff/pick", methods=["GET", "POST"])
    @has_access
    def pick(self, application_id: int):
        """添加: this enterprise's registered staff, searchable by name or ID number, several at once."""
        record = self._editable(application_id)
        if record is None:
            return self._detail(self._own(application_id))
        if request.method == "POST":
            ids = [int(value) for value in request.form.getlist("staff_ids") if value.isdigit()]
            try:
                added = wizard.add_staff(record, g.user, ids)
            except WorkflowError as error:
                flash(error.message, "danger")
            else:
                if added:
                    flash(_("%(n)s person(s) added", n=added), "success")
                else:
                    flash(_("Please choose the staff to add"), "warning")
            return self._step(record, "staff")
        chosen = [s.staff_id for s in record.staff]
        query = scoped(select(TechnicalStaff), TechnicalStaff).where(TechnicalStaff.archived.is_(False))
        if chosen:
            query = query.where(TechnicalStaff.id.not_in(chosen))
        needle = request.args.get("q", "").strip()
        if needle:
            query = query.where(
                or_(contains_text(TechnicalStaff.name, needle), TechnicalStaff.id_number.startswith(needle.upper()))
            )
        page = page_number()
        rows = db.session.scalars(
            query.order_by(TechnicalStaff.name, TechnicalStaff.id)
            .limit(PICK_PAGE_SIZE + 1)
            .offset((page - 1) * PICK_PAGE_SIZE)
        ).all()
        return self._render(
            "qualification/pick.html",
            record=record,
            rows=rows[:PICK_PAGE_SIZE],
            more=len(rows) > PICK_PAGE_SIZE,
            page=page,
            q=needle,
            steps=STEPS,
        )

    @expose("/<int:application_id>/staff/<int:staff_id>/proof", methods=["POST"])
    @has_access
    def proof(self, application_id: int, staff_id: int):
        """上传技术人员资料 → 保存."""
        record = self._editable(application_id)
        if record is None:
            return self._detail(self._own(application_id))
        form = ProofForm()
        if form.validate_on_submit():
            try:
                wizard.set_staff_proof(record, g.user, staff_id, request.files.get("proof"))
            except (UploadRejected, qualification.NotEligible, WorkflowError) as error:
                flash(error.message, "danger")
            else:
                flash(_("Saved"), "success")
        return self._step(record, "staff")

    @expose("/<int:application_id>/staff/<int:staff_id>/remove", methods=["POST"])
    @has_access
    def remove(self, application_id: int, staff_id: int):
        record = self._editable(application_id)
        if record is None:
            return self._detail(self._own(application_id))
        try:
            wizard.remove_staff(record, g.user, staff_id)
        except WorkflowError as error:
            flash(error.message, "danger")
        return self._step(record, "staff")

    # --- step 3: 评审材料 ------------------------------------------------------------------------

    @expose("/<int:application_id>/materials", methods=["GET", "POST"])
    @has_access
    def materials(self, application_id: int):
        record = self._editable(application_id)
        if record is None:
            return self._detail(self._own(application_id))
        form = ConditionsForm(obj=record if request.method == "GET" else None)
        if request.method == "POST":
            if form.validate_on_submit():
                uploads = {
                    key.removeprefix("material_"): upload
                    for key, upload in request.files.items()
                    if key.startswith("material_") and upload and upload.filename
                }
                try:
                    wizard.save_conditions(record, g.user, form.office_area.data, bool(form.iso9001.data), uploads)
                except (UploadRejected, WorkflowError) as error:
                    flash(error.message, "danger")
                else:
                    if request.form.get("action") != "submit":
                        flash(_("Saved"), "success")
                        return self._step(record, "materials")
                    name = "resubmit" if record.status == "returned" else "submit"
                    try:
                        apply(record, name, g.user)
                    except WorkflowError as error:
                        flash(error.message, "danger")
                        return self._step(record, "materials")
                    flash(str(self.msg_submitted), "success")
                    return self._detail(record)
            else:
                flash_form_errors(form)
        lines, materials = qualification.verdict(record)
        uploaded = {f.requirement: f for f in record.files}
        return self._render(
            "qualification/materials.html",
            record=record,
            form=form,
            lines=lines,
            materials=materials,
            uploaded=uploaded,
            project_form=ProjectForm(),
            steps=STEPS,
        )

    @expose("/<int:application_id>/projects", methods=["POST"])
    @has_access
    def add_project(self, application_id: int):
        record = self._editable(application_id)
        if record is None:
            return self._detail(self._own(application_id))
        form = ProjectForm()
        if form.validate_on_submit():
            values = {
                "name": form.name.data.strip(),
                "client": form.client.data.strip(),
                "contract_value": form.contract_value.data,
                "completed_on": form.completed_on.data,
            }
            try:
                wizard.add_project(record, g.user, values, request.files.get("proof"))
            except (UploadRejected, WorkflowError) as error:
                flash(error.message, "danger")
            else:
                flash(_("The project has been added"), "success")
        else:
            flash_form_errors(form)
        return self._step(record, "materials")

    @expose("/<int:application_id>/projects/<int:project_id>/remove", methods=["POST"])
    @has_access
    def remove_project(self, application_id: int, project_id: int):
        record = self._editable(application_id)
        if record is None:
            return self._detail(self._own(application_id))
        try:
            wizard.remove_project(record, g.user, project_id)
        except WorkflowError as error:
            flash(error.message, "danger")
        return self._step(record, "materials")

    # --- detail --------------------------------------------------------------------------------

    def detail_context(self, record: Any) -> dict[str, Any]:
        issued = db.session.scalar(
            select(Certificate).where(Certificate.application_id == record.id).order_by(Certificate.id.desc()).limit(1)
        )
        return {"issued": issued, "level_names": qualification.level_names()}

    @expose("/<int:application_id>/act", methods=["POST"])
    @has_access
    def act(self, application_id: int):
        response = super().act(application_id)
        record = self._own(application_id)
        if request.form.get("transition") == "revise" and record.status == "draft":
            return self._step(record, "basic")
        return response


class NewQualificationView(QualificationPortalView):
    route_base = "/qualification/new"
    kind = "qualification_new"


class AnnualReviewView(QualificationPortalView):
    route_base = "/qualification/annual"
    kind = "qualification_annual"


class UpgradeView(QualificationPortalView):
    route_base = "/qualification/upgrade"
    kind = "qualification_upgrade"


class DowngradeView(QualificationPortalView):
    route_base = "/qualification/downgrade"
    kind = "qualification_downgrade"


class RenewalView(QualificationPortalView):
    route_base = "/qualification/renewal"
    kind = "qualification_renewal"


PORTAL_VIEWS = (NewQualificationView, AnnualReviewView, UpgradeView, DowngradeView, RenewalView)


class MyCertificatesView(BaseView):
    """我的证书: the enterprise's certificates with level, number, validity, status, annual reviews and history."""

    route_base = "/qualification/certificates"
    class_permission_name = "MyCertificates"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        # an enterprise holds one certificate per kind, but one training certificate per trained person
        page = paginate(
            scoped(select(Certificate), Certificate).options(selectinload(Certificate.events)),
            (Certificate.kind, Certificate.issued_on.desc(), Certificate.id.desc()),
            page_number(),
            page_size(50),
            counted=False,
        )
        return self.render_template(
            "qualification/certificates.html",
            rows=page.rows,
            page=page,
            statuses=STATUSES,
            level_names=qualification.level_names(),
        )

    @expose("/<int:certificate_id>")
    @has_access
    def detail(self, certificate_id: int):
        certificate = get_scoped_or_404(Certificate, certificate_id)
        events = history(certificate.id)
        return self.render_template(
            "qualification/certificate.html",
            certificate=certificate,
            events=events,
            statuses=STATUSES,
            level_names=qualification.level_names(),
        )

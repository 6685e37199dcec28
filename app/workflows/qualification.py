"""资质申请, 资质年审, 资质晋级, 资质降级 and 到期换证: five workflows from one table shape.

The enterprise builds its application in a three-step wizard on a server-side draft (the record in
state draft, or returned after the association sent it back); 修改资料 on a submitted application
takes it back to draft until 接收. 提交申请 is refused while the target level's staffing lines,
thresholds or required materials are unmet, and freezes the rules and the verdict in a snapshot.
The edits of a draft are functions here: each is version-checked, audited and committed.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .. import audit, db, qualification
from ..models import (
    AnnualReview,
    ApplicationFile,
    Downgrade,
    NewQualification,
    QualificationApplication,
    QualificationProject,
    QualificationStaff,
    Renewal,
    TechnicalStaff,
    Upgrade,
)
from ..uploads import save_upload
from . import (
    REGISTRY,
    State,
    Transition,
    Workflow,
    claim_for_change,
    owner_transitions,
    register,
    review_transitions,
)

EDITABLE = ("draft", "returned")


def eligible(record: QualificationApplication, actor: Any) -> str | None:
    """The type's eligibility, the chosen level and the certificate, checked again at submission."""
    result = qualification.eligibility(record.kind, record.enterprise_id, exclude_id=record.id)
    if not result.allowed:
        return result.reason
    if record.level_id not in {level.id for level in result.levels}:
        return _("The chosen level is not possible for this application")
    if result.certificate is not None and record.certificate_id != result.certificate.id:
        return _("The certificate of this application is no longer the one your enterprise holds")
    return None


def requirements_met(record: QualificationApplication, actor: Any) -> str | None:
    problems = qualification.submission_problems(record)
    if problems:
        return _("The application cannot be submitted yet: %(problems)s", problems="；".join(problems))
    return None


def certificate_still_held(record: QualificationApplication, actor: Any) -> str | None:
    certificate = record.certificate
    if certificate is not None and certificate.status not in ("valid", "expired"):
        return _("Certificate %(number)s is no longer valid", number=certificate.number)
    return None


def snapshot(record: QualificationApplication, actor: Any, context: Any) -> None:
    """On submission the rules, materials and people are frozen; a 年审 reviews the certificate year
    whose window is open now (its draft may have been started in an earlier window)."""
    if record.kind == "qualification_annual":
        result = qualification.eligibility(record.kind, record.enterprise_id, exclude_id=record.id)
        record.review_year = result.review_year
    qualification.take_snapshot(record)


def approve_new(record, actor, context) -> None:
    qualification.issue_new(record, actor)


def approve_annual(record, actor, context) -> None:
    qualification.record_annual_review(record, actor)


def approve_level_change(record, actor, context) -> None:
    qualification.change_level(record, actor)


def approve_renewal(record, actor, context) -> None:
    qualification.renew(record, actor)


def transitions(on_approve, approved_notice) -> tuple[Transition, ...]:
    """The shared submission and review transitions, plus 修改资料 before 接收 (back into the wizard)."""
    return (
        *owner_transitions(
            submit_guards=(eligible, requirements_met),
            resubmit_guards=(eligible, requirements_met),
            submit_effects=(snapshot,),
            withdraw_from=("draft", "submitted", "returned"),
        ),
        Transition(
            "revise", ("submitted",), "draft", _l("Edit materials"), owner_only=True, style="default", bare=True
        ),
        *review_transitions(
            approved_notice=approved_notice,
            approve_effects=(on_approve,),
            approve_guards=(certificate_still_held,),
        ),
    )


def fields_context(record: QualificationApplication) -> dict[str, Any]:
    """What qualification/_fields.html shows: the snapshot's verdict once submitted (so later rule
    edits never change it), the live one while the enterprise is still filling in the wizard."""
    frozen = record.status not in EDITABLE
    snapshot = qualification.snapshot_of(record) if frozen else None
    lines, materials = (None, None) if snapshot else qualification.verdict(record)
    persons = qualification.snapshot_people(snapshot) if snapshot else None
    if persons is None:
        persons = {p.staff_id: p for p in qualification.people([s.staff_id for s in record.staff])}
    return {
        "snapshot": snapshot,
        "live_lines": lines,
        "live_materials": materials,
        "persons": persons,
        "shared": qualification.shared_people(record),
        "level_names": qualification.level_names(),
    }


def _workflow(kind, label, queue_label, model, view, on_approve, notice, icon) -> Workflow:
    return register(
        Workflow(
            kind=kind,
            label=label,
            model=model,
            permission_view=view,
            state_labels={"draft": State(_l("Being filled in"))},
            editable_states=EDITABLE,
            final_states=("approved", "refused", "withdrawn"),
            fields_template="qualification/_fields.html",
            menu_icon=icon,
            queue_label=queue_label,
            transitions=transitions(on_approve, notice),
            context=fields_context,
        )
    )


NEW = _workflow(
    "qualification_new",
    _l("Qualification application"),
    _l("Qualification applications"),
    NewQualification,
    "QualificationNewReview",
    approve_new,
    _l("approved, the qualification certificate has been issued"),
    "fa-certificate",
)
ANNUAL = _workflow(
    "qualification_annual",
    _l("Annual review"),
    _l("Annual reviews"),
    AnnualReview,
    "QualificationAnnualReview",
    approve_annual,
    _l("annual review passed"),
    "fa-calendar-check-o",
)
UPGRADE = _workflow(
    "qualification_upgrade",
    _l("Qualification upgrade"),
    _l("Qualification upgrades"),
    Upgrade,
    "QualificationUpgradeReview",
    approve_level_change,
    _l("approved, the certificate of the new level has been issued"),
    "fa-level-up",
)
DOWNGRADE = _workflow(
    "qualification_downgrade",
    _l("Qualification downgrade"),
    _l("Qualification downgrades"),
    Downgrade,
    "QualificationDowngradeReview",
    approve_level_change,
    _l("approved, the certificate of the new level has been issued"),
    "fa-level-down",
)
RENEWAL = _workflow(
    "qualification_renewal",
    _l("Certificate renewal"),
    _l("Certificate renewals"),
    Renewal,
    "QualificationRenewalReview",
    approve_renewal,
    _l("approved, the renewed certificate has been issued"),
    "fa-refresh",
)


# --- the wizard's writes on a draft: version-checked, audited, committed ---------------------------


def _commit() -> None:
    try:
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise


def start(kind: str, actor: Any, level_id: int) -> QualificationApplication:
    """基本信息 → 下一步: the server-side draft of a new application (refused when not eligible).

    The enterprise's row is locked first, so that two simultaneous 下一步 (two tabs, two clerks)
    cannot both pass the one-open-application check; the lock ends with the commit."""
    from sqlalchemy import select

    from ..models import Enterprise

    db.session.execute(select(Enterprise.id).where(Enterprise.id == actor.enterprise_id).with_for_update())
    result = qualification.eligibility(kind, actor.enterprise_id)
    refusal = result.reason if not result.allowed else None
    if refusal is None and level_id not in {level.id for level in result.levels}:
        refusal = _("The chosen level is not possible for this application")
    if refusal:
        db.session.rollback()  # releases the lock
        raise qualification.NotEligible(refusal)
    model = REGISTRY[kind].model
    record = model(
        enterprise_id=actor.enterprise_id,
        status="draft",
        version=1,
        created_by_id=actor.id,
        level_id=level_id,
        certificate_id=result.certificate.id if result.certificate else None,
        review_year=result.review_year,
        wizard_step=2,
    )
    db.session.add(record)
    db.session.flush()
    audit.record("create", type(record).__name__, record.id, after={"level_id": level_id}, actor=actor)
    _commit()
    return record


def set_level(record: QualificationApplication, actor: Any, level_id: int, version: int | None) -> None:
    result = qualification.eligibility(record.kind, record.enterprise_id, exclude_id=record.id)
    if level_id not in {level.id for level in result.levels}:
        raise qualification.NotEligible(_("The chosen level is not possible for this application"))
    claim_for_change(record, EDITABLE, version)
    audit.record(
        "update",
        type(record).__name__,
        record.id,
        before={"level_id": record.level_id},
        after={"level_id": level_id},
        actor=actor,
    )
    record.level_id = level_id
    _commit()


def add_staff(record: QualificationApplication, actor: Any, staff_ids: list[int]) -> int:
    """添加: registered, not archived staff of the same enterprise, each once."""
    from sqlalchemy import select

    chosen = {s.staff_id for s in record.staff}
    rows = db.session.scalars(
        select(TechnicalStaff).where(
            TechnicalStaff.id.in_(staff_ids),
            TechnicalStaff.enterprise_id == record.enterprise_id,
            TechnicalStaff.archived.is_(False),
        )
    ).all()
    new = [staff for staff in rows if staff.id not in chosen]
    if not new:
        return 0
    claim_for_change(record, EDITABLE)
    for staff in new:
        record.staff.append(
            QualificationStaff(enterprise_id=record.enterprise_id, staff_id=staff.id, id_number=staff.id_number)
        )
    audit.record("add_staff", type(record).__name__, record.id, after={"staff": [s.id for s in new]}, actor=actor)
    _commit()
    return len(new)


def remove_staff(record: QualificationApplication, actor: Any, staff_id: int) -> None:
    entry = next((s for s in record.staff if s.staff_id == staff_id), None)
    if entry is None:
        return
    claim_for_change(record, EDITABLE)
    record.staff.remove(entry)
    audit.record("remove_staff", type(record).__name__, record.id, before={"staff": staff_id}, actor=actor)
    _commit()


def set_staff_proof(record: QualificationApplication, actor: Any, staff_id: int, upload: Any) -> None:
    """上传技术人员资料 → 保存 (raises UploadRejected for a bad file; nothing is stored then)."""
    entry = next((s for s in record.staff if s.staff_id == staff_id), None)
    if entry is None:
        raise qualification.NotEligible(_("This person is not part of the application"))
    claim_for_change(record, EDITABLE)
    stored = save_upload(
        upload, purpose="qualification_staff", enterprise_id=record.enterprise_id, uploaded_by_id=actor.id
    )
    entry.proof_file_id = stored.id
    audit.record(
        "staff_proof", type(record).__name__, record.id, after={"staff": staff_id, "file": stored.id}, actor=actor
    )
    _commit()


def save_conditions(
    record: QualificationApplication, actor: Any, office_area: Any, iso9001: bool, uploads: dict
) -> None:
    """评审材料 page: office area, ISO 9001 and the uploaded materials (code -> file), all or nothing."""
    claim_for_change(record, EDITABLE)
    before = audit.snapshot(record, ["office_area", "iso9001"])
    record.office_area = office_area
    record.iso9001 = iso9001
    materials = {m.code: m for m in qualification.materials_for(record.level_id, record.kind)}
    try:
        for code, upload in uploads.items():
            material = materials.get(code)
            if material is None:
                continue
            accept = tuple(part.strip() for part in material.accept.split(",") if part.strip())
            stored = save_upload(
                upload,
                purpose="qualification_material",
                enterprise_id=record.enterprise_id,
                uploaded_by_id=actor.id,
                accept=accept,
            )
            if stored.size > material.max_mb * 1024 * 1024:
                from ..uploads import UploadRejected

                raise UploadRejected(
                    _("%(name)s: the file is larger than %(n)s MB", name=material.name, n=material.max_mb)
                )
            for old in [f for f in record.files if f.requirement == code]:
                record.files.remove(old)
            record.files.append(
                ApplicationFile(
                    enterprise_id=record.enterprise_id, requirement=code, label=material.name, file_id=stored.id
                )
            )
    except Exception:
        db.session.rollback()
        raise
    audit.record(
        "update",
        type(record).__name__,
        record.id,
        before=before,
        after={**audit.snapshot(record, ["office_area", "iso9001"]), "materials": sorted(uploads)},
        actor=actor,
    )
    _commit()


def add_project(record: QualificationApplication, actor: Any, values: dict, proof: Any) -> None:
    claim_for_change(record, EDITABLE)
    stored = None
    if proof is not None and getattr(proof, "filename", ""):
        stored = save_upload(
            proof, purpose="qualification_project", enterprise_id=record.enterprise_id, uploaded_by_id=actor.id
        )
    record.projects.append(
        QualificationProject(enterprise_id=record.enterprise_id, proof_file_id=stored.id if stored else None, **values)
    )
    audit.record(
        "add_project", type(record).__name__, record.id, after={k: str(v) for k, v in values.items()}, actor=actor
    )
    _commit()


def remove_project(record: QualificationApplication, actor: Any, project_id: int) -> None:
    project = next((p for p in record.projects if p.id == project_id), None)
    if project is None:
        return
    claim_for_change(record, EDITABLE)
    record.projects.remove(project)
    audit.record("remove_project", type(record).__name__, record.id, before={"project": project.name}, actor=actor)
    _commit()

"""Qualification as a service: levels, staffing rules and materials as data; the rule evaluation
behind the 黄色文字提示 and the server's check; eligibility of each application type; the snapshot a
submitted application keeps; and the certificate effects of approval.

Dates are Asia/Shanghai calendar days (`today()`).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from dateutil.relativedelta import relativedelta
from flask_babel import gettext as _
from sqlalchemy import func, select

from . import audit, certificates, db
from .clock import CHINA, today  # noqa: F401 - re-exported
from .exceptions import UserError
from .memo import per_request
from .models import (
    Application,
    Certificate,
    CertificateEvent,
    Enrollment,
    Enterprise,
    MaterialRequirement,
    QualificationApplication,
    QualificationLevel,
    QualificationProject,
    QualificationStaff,
    StaffCertificate,
    StaffingRule,
    TechnicalStaff,
)
from .settings import get_int


class NotEligible(UserError):
    """The enterprise may not do this now; the message says exactly why."""


KINDS = (
    "qualification_new",
    "qualification_annual",
    "qualification_upgrade",
    "qualification_downgrade",
    "qualification_renewal",
)
OPEN_STATES = ("draft", "submitted", "received", "returned")


# --- defaults (RULES.md), inserted by `flask seed` when the association has no levels yet ---------

DEFAULT_LEVELS = [
    # code, name, rank, capital, office area, project value, count, large value, large count, ISO
    ("L1", "一级", 3, 1000, 300, 2000, 5, 300, 2, True),
    ("L2", "二级", 2, 500, 200, 1200, 5, None, None, True),
    ("L3", "三级", 1, 50, None, 50, None, None, None, False),
]
# level code -> lines (min_count, requires_credential, titles, positions, min_insurance_months)
DEFAULT_RULES = {
    "L1": [(20, True, None, None, 3), (2, True, None, "技术负责人", 3)],
    "L2": [(10, True, None, None, 3), (1, False, "高级工程师,正高级工程师", None, 3)],
    "L3": [(5, True, None, None, 3)],
}
# code, name, levels (None: all), required, help
DEFAULT_MATERIALS = [
    ("business_licence", "营业执照", None, True, "营业执照副本扫描件"),
    ("projects", "近两年完成工程业绩合同及验收证明", None, True, "合同与验收证明，可合并为一个PDF"),
    ("audit_report", "财务审计报告", ("L1", "L2"), True, "上一年度财务审计报告"),
    ("insurance", "社保缴纳证明", None, True, "所列技术人员近三个月社保缴纳证明"),
    ("iso9001", "ISO 9001 证书", ("L1", "L2"), True, "质量管理体系认证证书"),
    ("office", "办公场所证明", ("L1", "L2"), True, "房产证或租赁合同"),
    ("other", "其他材料", None, False, "其他需要说明的材料"),
]


def seed_levels() -> int:
    """Insert the default levels, staffing lines and materials if the association has no level yet."""
    if db.session.scalar(select(func.count()).select_from(QualificationLevel)):
        return 0
    levels = {}
    for code, name, rank, capital, area, value, count, large, large_count, iso in DEFAULT_LEVELS:
        level = QualificationLevel(
            code=code,
            name=name,
            rank=rank,
            validity_years=3,
            min_registered_capital=capital,
            min_office_area=area,
            project_years=2,
            min_project_value=value,
            min_project_count=count,
            large_project_value=large,
            min_large_projects=large_count,
            iso9001_required=iso,
            years_held_before_upgrade=0,
            active=True,
        )
        db.session.add(level)
        levels[code] = level
    db.session.flush()
    for code, lines in DEFAULT_RULES.items():
        for order, (count, credential, titles, positions, months) in enumerate(lines):
            db.session.add(
                StaffingRule(
                    level_id=levels[code].id,
                    min_count=count,
                    requires_credential=credential,
                    titles=titles,
                    positions=positions,
                    min_insurance_months=months,
                    sort_order=order,
                )
            )
    order = 0
    for code, name, for_levels, required, help_text in DEFAULT_MATERIALS:
        for level_code in for_levels or (None,):
            order += 1
            db.session.add(
                MaterialRequirement(
                    code=code,
                    name=name,
                    level_id=levels[level_code].id if level_code else None,
                    application_kind=None,
                    required=required,
                    accept="image,pdf",
                    max_mb=20,
                    help_text=help_text,
                    sort_order=order,
                )
            )
    return len(levels)


# --- the staffing rule ---------------------------------------------------------------------------


def _split(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").replace("，", ",").split(",") if item.strip()]


def describe_rule(rule: StaffingRule) -> str:
    """The rule line in words, as the 黄色文字提示 shows it."""
    parts = []
    if rule.titles:
        parts.append(_("title %(titles)s", titles="/".join(_split(rule.titles))))
    if rule.positions:
        parts.append(_("position %(positions)s", positions="/".join(_split(rule.positions))))
    if rule.requires_credential:
        parts.append(_("with a title, a professional certificate or a passed training"))
    if rule.training_passed:
        parts.append(_("with a passed training"))
    if rule.certificate_kind:
        grade = f"（{rule.certificate_grade}）" if rule.certificate_grade else ""
        parts.append(_("holding a valid %(kind)s certificate", kind=rule.certificate_kind + grade))
    if rule.min_insurance_months:
        parts.append(_("social insurance with this enterprise for at least %(n)s months", n=rule.min_insurance_months))
    who = "，".join(parts) if parts else _("any registered staff")
    return _("At least %(n)s technical staff: %(who)s", n=rule.min_count, who=who)


@dataclass
class Person:
    """What the rule looks at for one staff member."""

    staff_id: int
    name: str
    id_number: str
    title: str
    position: str
    insurance_months: int
    trained: bool
    certificates: list[tuple[str, str | None]] = field(default_factory=list)  # (kind, grade), valid ones


def people(staff_ids: list[int], on: dt.date | None = None) -> list[Person]:
    """The rule's view of these staff members: three column queries whatever their number (no ORM
    objects, no per-chunk relationship loading)."""
    if not staff_ids:
        return []
    on = on or today()
    rows = db.session.execute(
        select(
            TechnicalStaff.id,
            TechnicalStaff.name,
            TechnicalStaff.id_number,
            TechnicalStaff.title,
            TechnicalStaff.position,
            TechnicalStaff.insurance_months,
        )
        .where(TechnicalStaff.id.in_(staff_ids))
        .order_by(TechnicalStaff.id)
    ).all()
    certificates: dict[int, list[tuple[str, str | None]]] = {}
    for staff_id, kind, grade in db.session.execute(
        select(StaffCertificate.staff_id, StaffCertificate.kind, StaffCertificate.grade).where(
            StaffCertificate.staff_id.in_(staff_ids),
            (StaffCertificate.expires_on.is_(None)) | (StaffCertificate.expires_on >= on),
        )
    ):
        certificates.setdefault(staff_id, []).append((kind, grade))
    trained = set(
        db.session.scalars(
            select(Enrollment.staff_id).where(Enrollment.staff_id.in_(staff_ids), Enrollment.status == "passed")
        )
    )
    return [
        Person(
            staff_id=staff_id,
            name=name,
            id_number=id_number,
            title=title,
            position=position,
            insurance_months=months or 0,
            trained=staff_id in trained,
            certificates=certificates.get(staff_id, []),
        )
        for staff_id, name, id_number, title, position, months in rows
    ]


def matches(rule: StaffingRule, person: Person) -> bool:
    if rule.titles and person.title not in _split(rule.titles):
        return False
    if rule.positions and person.position not in _split(rule.positions):
        return False
    if rule.requires_credential and not (person.title not in ("", "无") or person.certificates or person.trained):
        return False
    if rule.training_passed and not person.trained:
        return False
    if rule.certificate_kind and not any(
        rule.certificate_kind in kind and (not rule.certificate_grade or grade == rule.certificate_grade)
        for kind, grade in person.certificates
    ):
        return False
    if rule.min_insurance_months and person.insurance_months < rule.min_insurance_months:
        return False
    return True


@dataclass
class Line:
    """One line of the verdict: a staffing line or a threshold, met or not, with what was counted."""

    kind: str  # staff | capital | office | iso | projects
    text: str
    required: float
    actual: float
    met: bool
    counted: list[int] = field(default_factory=list)  # staff ids matching a staffing line

    @property
    def missing(self) -> float:
        return max(self.required - self.actual, 0)


def _num(value: Any) -> float:
    return float(value) if value is not None else 0.0


def evaluate(
    level: QualificationLevel,
    rules: list[StaffingRule],
    persons: list[Person],
    enterprise: Enterprise,
    application: QualificationApplication | None,
    projects: list[QualificationProject] | None = None,
    on: dt.date | None = None,
) -> list[Line]:
    """Every line the target level asks for, met or not. Pure: the caller loads the data."""
    lines = []
    for rule in rules:
        counted = [p.staff_id for p in persons if matches(rule, p)]
        lines.append(
            Line("staff", describe_rule(rule), rule.min_count, len(counted), len(counted) >= rule.min_count, counted)
        )
    if level.min_registered_capital:
        actual = _num(enterprise.registered_capital)
        required = _num(level.min_registered_capital)
        lines.append(
            Line(
                "capital",
                _(
                    "Registered capital at least %(n)s (10k CNY); the profile says %(v)s",
                    n=f"{required:g}",
                    v=f"{actual:g}",
                ),
                required,
                actual,
                actual >= required,
            )
        )
    if level.min_office_area:
        actual = _num(application.office_area if application else None)
        required = _num(level.min_office_area)
        lines.append(
            Line("office", _("Office area at least %(n)s ㎡", n=f"{required:g}"), required, actual, actual >= required)
        )
    if level.iso9001_required:
        has = bool(application and application.iso9001)
        lines.append(Line("iso", _("An ISO 9001 quality management certificate"), 1, 1 if has else 0, has))
    on = on or today()
    since = on - relativedelta(years=level.project_years)
    recent = [p for p in (projects or []) if since <= p.completed_on <= on]
    if level.min_project_value:
        total = sum(_num(p.contract_value) for p in recent)
        required = _num(level.min_project_value)
        lines.append(
            Line(
                "projects",
                _(
                    "Completed projects in the last %(y)s years worth at least %(n)s (10k CNY)",
                    y=level.project_years,
                    n=f"{required:g}",
                ),
                required,
                total,
                total >= required,
            )
        )
    if level.min_project_count:
        lines.append(
            Line(
                "projects",
                _(
                    "At least %(n)s completed projects in the last %(y)s years",
                    n=level.min_project_count,
                    y=level.project_years,
                ),
                level.min_project_count,
                len(recent),
                len(recent) >= level.min_project_count,
            )
        )
    if level.min_large_projects and level.large_project_value:
        large = [p for p in recent if _num(p.contract_value) >= _num(level.large_project_value)]
        lines.append(
            Line(
                "projects",
                _(
                    "At least %(n)s single projects of at least %(v)s (10k CNY)",
                    n=level.min_large_projects,
                    v=f"{_num(level.large_project_value):g}",
                ),
                level.min_large_projects,
                len(large),
                len(large) >= level.min_large_projects,
            )
        )
    return lines


def materials_for(level_id: int, kind: str) -> list[MaterialRequirement]:
    return list(
        db.session.scalars(
            select(MaterialRequirement)
            .where(
                MaterialRequirement.active.is_(True),
                (MaterialRequirement.level_id == level_id) | MaterialRequirement.level_id.is_(None),
                (MaterialRequirement.application_kind == kind) | MaterialRequirement.application_kind.is_(None),
            )
            .order_by(MaterialRequirement.sort_order, MaterialRequirement.id)
        )
    )


def rules_of(level_id: int) -> list[StaffingRule]:
    return list(
        db.session.scalars(
            select(StaffingRule)
            .where(StaffingRule.level_id == level_id)
            .order_by(StaffingRule.sort_order, StaffingRule.id)
        )
    )


def verdict(record: QualificationApplication) -> tuple[list[Line], list[MaterialRequirement]]:
    """The live evaluation of a draft (the hint) and the materials its level and type ask for."""
    staff_ids = list(
        db.session.scalars(select(QualificationStaff.staff_id).where(QualificationStaff.application_id == record.id))
    )
    persons = people(staff_ids)
    lines = evaluate(record.level, rules_of(record.level_id), persons, record.enterprise, record, record.projects)
    return lines, materials_for(record.level_id, record.kind)


def missing_materials(record: QualificationApplication, materials: list[MaterialRequirement]) -> list[str]:
    uploaded = {f.requirement for f in record.files}
    return [m.name for m in materials if m.required and m.code not in uploaded]


def submission_problems(record: QualificationApplication) -> list[str]:
    """Why 提交申请 is refused: every unmet line and every missing required material, in words."""
    lines, materials = verdict(record)
    problems = [
        _(
            "%(line)s — %(actual)s of %(required)s",
            line=line.text,
            actual=f"{line.actual:g}",
            required=f"{line.required:g}",
        )
        for line in lines
        if not line.met
    ]
    problems += [_("Missing material: %(name)s", name=name) for name in missing_materials(record, materials)]
    return problems


def take_snapshot(record: QualificationApplication) -> None:
    """Freeze what the application was checked against: later edits of the rules, the materials or
    the staff records never change it (the people are kept as they were counted)."""
    staff_ids = list(
        db.session.scalars(select(QualificationStaff.staff_id).where(QualificationStaff.application_id == record.id))
    )
    persons = people(staff_ids)
    lines = evaluate(record.level, rules_of(record.level_id), persons, record.enterprise, record, record.projects)
    materials = materials_for(record.level_id, record.kind)
    level = record.level
    record.snapshot = json.dumps(
        {
            "level": {"id": level.id, "code": level.code, "name": level.name, "validity_years": level.validity_years},
            "enterprise": {
                "name": record.enterprise.name,
                "credit_code": record.enterprise.credit_code,
                "registered_capital": _num(record.enterprise.registered_capital),
                "legal_person": record.enterprise.legal_person,
                "address": record.enterprise.address,
            },
            "lines": [asdict(line) for line in lines],
            "people": [asdict(person) for person in persons],
            "met": all(line.met for line in lines),
            "materials": [
                {"code": m.code, "name": m.name, "required": m.required, "accept": m.accept} for m in materials
            ],
            "taken_on": today().isoformat(),
        },
        ensure_ascii=False,
        default=lambda value: float(value) if isinstance(value, Decimal) else str(value),
    )


def snapshot_of(record: QualificationApplication) -> dict | None:
    return json.loads(record.snapshot) if record.snapshot else None


def snapshot_people(snapshot: dict) -> dict[int, Person] | None:
    """staff id -> the person as counted on submission (None for snapshots taken before people were kept)."""
    if "people" not in snapshot:
        return None
    return {entry["staff_id"]: Person(**entry) for entry in snapshot["people"]}


def shared_people(record: QualificationApplication) -> dict[int, list[str]]:
    """staff id -> other enterprises counting the same person in an open or approved application."""
    numbers = {s.id_number: s.staff_id for s in record.staff}
    if not numbers:
        return {}
    rows = db.session.execute(
        select(QualificationStaff.id_number, Enterprise.name)
        .join(Application, Application.id == QualificationStaff.application_id)
        .join(Enterprise, Enterprise.id == QualificationStaff.enterprise_id)
        .where(
            QualificationStaff.id_number.in_(numbers),
            QualificationStaff.enterprise_id != record.enterprise_id,
            Application.status.in_((*OPEN_STATES[1:], "approved")),
        )
    ).all()
    result: dict[int, list[str]] = {}
    for id_number, name in rows:
        result.setdefault(numbers[id_number], []).append(name)
    return result


# --- certificates held and eligibility ------------------------------------------------------------


def current_certificate(enterprise_id: int) -> Certificate | None:
    """The enterprise's qualification certificate in force (valid status, not past its validity)."""
    return db.session.scalar(
        select(Certificate)
        .where(
            Certificate.enterprise_id == enterprise_id,
            Certificate.kind == "qualification",
            Certificate.status == "valid",
        )
        .order_by(Certificate.valid_until.desc(), Certificate.id.desc())
        .limit(1)
    )


def level_of(certificate: Certificate | None) -> QualificationLevel | None:
    if certificate is None or not certificate.level:
        return None
    return db.session.scalar(select(QualificationLevel).where(QualificationLevel.code == certificate.level))


def open_application(enterprise_id: int, exclude_id: int | None = None) -> QualificationApplication | None:
    query = select(QualificationApplication).where(
        QualificationApplication.enterprise_id == enterprise_id,
        QualificationApplication.status.in_(OPEN_STATES),
    )
    if exclude_id:
        query = query.where(QualificationApplication.id != exclude_id)
    return db.session.scalars(query.limit(1)).first()


def certificate_year(certificate: Certificate, on: dt.date) -> tuple[int, dt.date]:
    """(the certificate year's number from 1, its anniversary) for day `on`."""
    years = relativedelta(on, certificate.valid_from).years
    return years + 1, certificate.valid_from + relativedelta(years=years)


def annual_window(certificate: Certificate, on: dt.date) -> tuple[int, dt.date, dt.date]:
    """The certificate year to review, and its window around the coming or passed anniversary."""
    before = get_int("qualification.annual_window_days_before")
    after = get_int("qualification.annual_window_days_after")
    for years in range(1, 50):
        anniversary = certificate.valid_from + relativedelta(years=years)
        if on <= anniversary + dt.timedelta(days=after):
            return years, anniversary - dt.timedelta(days=before), anniversary + dt.timedelta(days=after)
    raise ValueError("certificate too old")


def renewal_window(certificate: Certificate) -> tuple[dt.date, dt.date]:
    before = get_int("qualification.renewal_days_before")
    grace = get_int("qualification.renewal_grace_days")
    return certificate.valid_until - dt.timedelta(days=before), certificate.valid_until + dt.timedelta(days=grace)


def renewal_certificate(enterprise_id: int) -> Certificate | None:
    """The newest qualification certificate still renewable (valid, or expired within the grace)."""
    return db.session.scalar(
        select(Certificate)
        .where(
            Certificate.enterprise_id == enterprise_id,
            Certificate.kind == "qualification",
            Certificate.status.in_(("valid", "expired")),
        )
        .order_by(Certificate.valid_until.desc(), Certificate.id.desc())
        .limit(1)
    )


@dataclass
class Eligibility:
    allowed: bool
    reason: str = ""
    certificate: Certificate | None = None
    levels: list[QualificationLevel] = field(default_factory=list)
    review_year: int | None = None
    pending: QualificationApplication | None = None  # the enterprise's open application (at most one)


def _levels() -> list[QualificationLevel]:
    """Every level by rank, once per request (eligibility and the names of certificates' levels)."""
    return per_request(
        "qualification_levels",
        lambda: list(db.session.scalars(select(QualificationLevel).order_by(QualificationLevel.rank))),
    )


def level_names() -> dict[str, str]:
    """Level code -> name, for certificates (which keep the code of the level they were issued at)."""
    return {level.code: level.name for level in _levels()}


def active_levels() -> list[QualificationLevel]:
    return [level for level in _levels() if level.active]


def eligibility(kind: str, enterprise_id: int, on: dt.date | None = None, exclude_id: int | None = None) -> Eligibility:
    """May the enterprise apply for `kind` now, and if not exactly why; the levels it may choose."""
    on = on or today()
    pending = open_application(enterprise_id, exclude_id)
    if pending is not None:
        return Eligibility(
            False,
            _("Your enterprise already has a qualification application in progress (No. %(id)s)", id=pending.id),
            pending=pending,
        )
    levels = active_levels()
    held = current_certificate(enterprise_id)
    if held is not None and held.valid_until is not None and held.valid_until < on:
        held = None  # past its validity, even if the daily job has not marked it expired yet
    if kind == "qualification_new":
        if held is not None:
            return Eligibility(
                False,
                _("Your enterprise already holds a valid qualification certificate (%(number)s)", number=held.number),
            )
        return Eligibility(True, levels=levels)
    if kind == "qualification_renewal":
        certificate = renewal_certificate(enterprise_id)
        if certificate is None or certificate.valid_until is None:
            return Eligibility(False, _("Your enterprise holds no qualification certificate to renew"))
        opens, closes = renewal_window(certificate)
        if on < opens:
            return Eligibility(False, _("到期换证 opens on %(date)s", date=opens.isoformat()), certificate)
        if on > closes:
            return Eligibility(
                False,
                _(
                    "The renewal period ended on %(date)s; please apply for a qualification again",
                    date=closes.isoformat(),
                ),
                certificate,
            )
        level = level_of(certificate)
        return Eligibility(True, certificate=certificate, levels=[level] if level else [])
    if held is None:
        return Eligibility(False, _("Your enterprise holds no valid qualification certificate"))
    held_level = level_of(held)
    if held_level is None:
        return Eligibility(
            False, _("The level of certificate %(number)s is no longer configured", number=held.number), held
        )
    if kind == "qualification_annual":
        year, opens, closes = annual_window(held, on)
        if held.valid_until is not None and held.valid_from + relativedelta(years=year) > held.valid_until:
            # the last anniversary is the expiry: that year is reviewed by 到期换证
            return Eligibility(False, _("The certificate expires at this anniversary: please apply for 到期换证"), held)
        if on < opens:
            return Eligibility(False, _("年审 window opens on %(date)s", date=opens.isoformat()), held)
        done = db.session.scalar(
            select(func.count())
            .select_from(QualificationApplication)
            .where(
                QualificationApplication.certificate_id == held.id,
                QualificationApplication.kind == "qualification_annual",
                QualificationApplication.review_year == year,
                QualificationApplication.status == "approved",
            )
        )
        # ... or recorded as passed in the old system (imported at the switch-over)
        anniversary_year = (held.valid_from + relativedelta(years=year)).year
        done = done or db.session.scalar(
            select(func.count())
            .select_from(CertificateEvent)
            .where(
                CertificateEvent.certificate_id == held.id,
                CertificateEvent.event == "annual_review",
                CertificateEvent.review_year == anniversary_year,
            )
        )
        if done:
            return Eligibility(False, _("The annual review of this certificate year has been passed already"), held)
        return Eligibility(True, certificate=held, levels=[held_level], review_year=year)
    if kind == "qualification_upgrade":
        higher = [level for level in levels if level.rank > held_level.rank]
        if not higher:
            return Eligibility(False, _("Your enterprise already holds the highest level"), held)
        allowed = [
            level for level in higher if held.valid_from + relativedelta(years=level.years_held_before_upgrade) <= on
        ]
        if not allowed:
            first = min(held.valid_from + relativedelta(years=level.years_held_before_upgrade) for level in higher)
            return Eligibility(False, _("晋级 is possible from %(date)s", date=first.isoformat()), held)
        return Eligibility(True, certificate=held, levels=allowed)
    if kind == "qualification_downgrade":
        lower = [level for level in levels if level.rank < held_level.rank]
        if not lower:
            return Eligibility(False, _("Your enterprise already holds the lowest level"), held)
        return Eligibility(True, certificate=held, levels=lower)
    raise ValueError(kind)


# --- effects of approval (inside the transition's transaction) ------------------------------------


def _validity(level_years: int, start: dt.date) -> dt.date:
    return start + relativedelta(years=level_years) - dt.timedelta(days=1)


def issue_new(record: QualificationApplication, actor: Any) -> Certificate:
    start = today()
    return certificates.issue(
        "qualification",
        enterprise_id=record.enterprise_id,
        holder_name=record.enterprise.name,
        valid_from=start,
        valid_until=_validity(record.level.validity_years, start),
        application_id=record.id,
        level=record.level.code,
        copies_original=1,
        copies_duplicate=1,
        issued_on=today(),
        actor=actor,
    )


def record_annual_review(record: QualificationApplication, actor: Any) -> None:
    certificate = record.certificate
    anniversary = certificate.valid_from + relativedelta(years=(record.review_year or 1))
    db.session.add(
        CertificateEvent(
            certificate_id=certificate.id,
            enterprise_id=certificate.enterprise_id,
            event="annual_review",
            from_status=certificate.status,
            to_status=certificate.status,
            note=_("Annual review passed %(year)s", year=anniversary.year),
            review_year=anniversary.year,
            actor_id=getattr(actor, "id", None),
            actor_name=audit.actor_name(actor) if actor is not None else _("System"),
        )
    )


def change_level(record: QualificationApplication, actor: Any) -> Certificate:
    """晋级 / 降级: a certificate at the new level with its own number; the old one is superseded."""
    old = record.certificate
    new = issue_new(record, actor)
    new.replaces_id = old.id
    certificates.change_status(old, "superseded", "superseded", _("Replaced by %(number)s", number=new.number), actor)
    return new


def renew(record: QualificationApplication, actor: Any) -> Certificate:
    """到期换证: the same number with the next -NN suffix and a new validity; the old one is superseded."""
    old = record.certificate
    base, renewals = old.number, 0
    issued_by = db.session.get(Application, old.application_id) if old.application_id else None
    if issued_by is not None and issued_by.kind == "qualification_renewal":
        # the old one is itself a renewal: its number is <base>-NN. The pattern may hold dashes and
        # digits of its own, so neither the number's shape nor a LIKE over the register can tell.
        base, suffix = old.number.rsplit("-", 1)
        renewals = int(suffix)
    start = max(today(), old.valid_until + dt.timedelta(days=1)) if old.valid_until else today()
    new = certificates.issue(
        "qualification",
        enterprise_id=record.enterprise_id,
        holder_name=record.enterprise.name,
        valid_from=start,
        valid_until=_validity(record.level.validity_years, start),
        application_id=record.id,
        level=record.level.code,
        number=f"{base}-{renewals + 1:02d}",
        copies_original=1,
        copies_duplicate=1,
        issued_on=today(),
        replaces=old,
        actor=actor,
    )
    certificates.change_status(old, "superseded", "superseded", _("Renewed as %(number)s", number=new.number), actor)
    return new

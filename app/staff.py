"""Technical staff and training sign-up: one set of field rules for the form and the 报名表 rows."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from . import audit, db
from .identity import InvalidIdentity, birth_date_of, gender_of, normalize_id_number
from .models import Enrollment, TechnicalStaff, TrainingBatch
from .settings import get_list
from .sms import SmsError, normalize_phone

# Field order of the form and of the 报名表 template: (key, label, required).
FIELDS: list[tuple[str, Any, bool]] = [
    ("name", _l("Name"), True),
    ("gender", _l("Gender"), True),
    ("id_number", _l("ID card number"), True),
    ("mobile", _l("Mobile phone"), True),
    ("education", _l("Education"), True),
    ("major", _l("Major"), False),
    ("title", _l("Professional title"), True),
    ("position", _l("Position"), True),
    ("insurance_months", _l("Months of social insurance with the enterprise"), True),
]
GENDERS = {"male": _l("Male"), "female": _l("Female")}
MIN_AGE = 16


class StaffRejected(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def gender_code(value: Any) -> str | None:
    text = str(value or "").strip()
    for code, label in GENDERS.items():
        if text in (code, str(label), {"male": "男", "female": "女"}[code]):
            return code
    return None


def as_text(value: Any) -> str:
    """Cell or form value as text; whole numbers typed into Excel cells lose their '.0'."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def check_staff(
    raw: dict[str, Any], choices: dict[str, list[str]] | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """Clean one staff record; returns (values, {field: Chinese message}) — values valid only without errors."""
    choices = choices or staff_choices()
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    text = {key: as_text(raw.get(key)) for key, _label, _required in FIELDS}
    for key, label, required in FIELDS:
        if required and not text[key]:
            errors[key] = _("%(field)s is required", field=label)
    name = text["name"]
    if name and len(name) > 50:
        errors["name"] = _("The name is too long")
    values["name"] = name
    try:
        values["id_number"] = normalize_id_number(text["id_number"]) if text["id_number"] else ""
    except InvalidIdentity as error:
        errors["id_number"] = error.message
    gender = gender_code(text["gender"])
    if text["gender"] and gender is None:
        errors["gender"] = _("Gender must be 男 or 女")
    values["gender"] = gender
    if values.get("id_number") and "id_number" not in errors:
        if gender and gender != gender_of(values["id_number"]):
            errors["gender"] = _("The gender does not match the ID card number")
        birth = birth_date_of(values["id_number"])
        today = dt.date.today()
        age = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
        if age < MIN_AGE:
            errors["id_number"] = _("The person must be at least %(n)s years old", n=MIN_AGE)
    try:
        values["mobile"] = normalize_phone(text["mobile"]) if text["mobile"] else ""
    except SmsError as error:
        errors["mobile"] = error.message
    for key, choice_key in (("education", "educations"), ("title", "titles"), ("position", "positions")):
        values[key] = text[key]
        if text[key] and text[key] not in choices[choice_key]:
            errors[key] = _("Choose one of: %(options)s", options="、".join(choices[choice_key]))
    values["major"] = text["major"][:100] or None
    months = text["insurance_months"]
    if months:
        if not months.isdigit() or int(months) > 600:
            errors["insurance_months"] = _("Enter a whole number of months from 0 to 600")
        else:
            values["insurance_months"] = int(months)
    return values, errors


def staff_choices() -> dict[str, list[str]]:
    return {
        "educations": get_list("staff.educations"),
        "titles": get_list("staff.titles"),
        "positions": get_list("staff.positions"),
    }


IDENTITY_FIELDS = ("name", "id_number", "gender")
STAFF_COLUMNS = ["name", "gender", "id_number", "mobile", "education", "major", "title", "position", "insurance_months"]


def save_staff(enterprise_id: int, values: dict[str, Any], staff: TechnicalStaff | None = None) -> TechnicalStaff:
    """Create or update one staff record (audited); refuses a second record of the same person."""
    duplicate = db.session.scalar(
        select(TechnicalStaff.id).where(
            TechnicalStaff.enterprise_id == enterprise_id,
            TechnicalStaff.id_number == values["id_number"],
            TechnicalStaff.id != (staff.id if staff else -1),
        )
    )
    if duplicate:
        raise StaffRejected(_("A staff member with this ID card number is already registered"))
    if staff is not None and any(values[key] != getattr(staff, key) for key in IDENTITY_FIELDS):
        signed_up = db.session.scalar(
            select(func.count()).select_from(Enrollment).where(Enrollment.staff_id == staff.id)
        )
        if signed_up:
            # Sign-ups and training certificates belong to this person: they must not move to another.
            raise StaffRejected(
                _("This person has training sign-ups: the name, ID card number and gender cannot be changed")
            )
    before = audit.snapshot(staff, STAFF_COLUMNS) if staff else None
    if staff is None:
        staff = TechnicalStaff(enterprise_id=enterprise_id)
        db.session.add(staff)
    for key in STAFF_COLUMNS:
        setattr(staff, key, values[key])
    db.session.flush()
    audit.record(
        "update" if before else "create",
        "TechnicalStaff",
        staff.id,
        before=before,
        after=audit.snapshot(staff, STAFF_COLUMNS),
    )
    return staff


# --- Sign-up -----------------------------------------------------------------------------------


@dataclass
class SignupResult:
    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # (row number, column label, message)
    created: int = 0
    updated: int = 0
    enrolled: int = 0


def batch_open_problem(batch: TrainingBatch, today: dt.date | None = None) -> str | None:
    today = today or dt.date.today()
    if batch.status != "open":
        return _("This training batch is not open for sign-up")
    if today < batch.signup_opens_on or today > batch.signup_closes_on:
        return _(
            "Sign-up for this batch runs from %(start)s to %(end)s",
            start=batch.signup_opens_on,
            end=batch.signup_closes_on,
        )
    return None


def sign_up(
    batch_id: int, enterprise_id: int, rows: list[tuple[int, dict[str, Any]]], uploaded_by: Any = None
) -> SignupResult:
    """Validate every row, then sign all of them up in one transaction — or none of them.

    `rows` are (row number, raw values). The batch row is locked first, so concurrent sign-ups for
    the same batch queue and the capacity is never exceeded.
    """
    result = SignupResult()
    labels = {key: str(label) for key, label, _required in FIELDS}
    batch = db.session.execute(select(TrainingBatch).where(TrainingBatch.id == batch_id).with_for_update()).scalar_one()
    problem = batch_open_problem(batch)
    if problem:
        result.errors.append((0, "", problem))
        return result
    choices = staff_choices()
    seen: dict[str, int] = {}
    already = dict(
        db.session.execute(
            select(Enrollment.id_number, Enrollment.enterprise_id).where(Enrollment.batch_id == batch_id)
        ).all()
    )
    registered = {
        staff.id_number: staff
        for staff in db.session.scalars(select(TechnicalStaff).where(TechnicalStaff.enterprise_id == enterprise_id))
    }
    for number, raw in rows:
        values, errors = check_staff(raw, choices)
        id_number = values.get("id_number")
        if id_number and "id_number" not in errors:
            if id_number in seen:
                errors["id_number"] = _("Repeats row %(n)s of this file", n=seen[id_number])
            elif id_number in already:
                errors["id_number"] = (
                    _("This person is already signed up for this batch")
                    if already[id_number] == enterprise_id
                    else _(
                        "This person is already signed up for this batch by another employer; please contact the association"
                    )
                )
            elif id_number in registered and values["name"] and registered[id_number].name != values["name"]:
                errors["name"] = _(
                    "The name differs from the staff record with this ID card number (%(name)s)",
                    name=registered[id_number].name,
                )
            seen.setdefault(id_number, number)
        for key, message in errors.items():
            result.errors.append((number, labels[key], message))
        result.rows.append(values)
    if not rows:
        result.errors.append((0, "", _("The file contains no staff rows")))
    taken = len(already)
    if not result.errors and taken + len(rows) > batch.capacity:
        result.errors.append(
            (
                0,
                "",
                _(
                    "Not enough places: %(left)s left, %(n)s in this sign-up",
                    left=max(batch.capacity - taken, 0),
                    n=len(rows),
                ),
            )
        )
    if result.errors:
        db.session.rollback()
        return result

    existing = registered
    new_staff = []
    for values in result.rows:
        staff = existing.get(values["id_number"])
        if staff is None:
            staff = TechnicalStaff(enterprise_id=enterprise_id, **{k: values[k] for k in STAFF_COLUMNS})
            new_staff.append(staff)
            result.created += 1
        else:
            for key in STAFF_COLUMNS:
                setattr(staff, key, values[key])
            staff.archived = False
            result.updated += 1
        existing[values["id_number"]] = staff
    db.session.add_all(new_staff)
    db.session.flush()
    db.session.add_all(
        Enrollment(
            batch_id=batch_id,
            staff_id=existing[v["id_number"]].id,
            enterprise_id=enterprise_id,
            id_number=v["id_number"],
        )
        for v in result.rows
    )
    audit.record(
        "signup",
        "TrainingBatch",
        batch_id,
        after={"enterprise_id": enterprise_id, "people": len(result.rows)},
        actor=uploaded_by,
    )
    db.session.commit()
    result.enrolled = len(result.rows)
    return result


def seats_taken(batch_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(Enrollment).where(Enrollment.batch_id == batch_id))

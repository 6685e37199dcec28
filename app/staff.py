"""Technical staff and training sign-up: one set of field rules for the form and the 报名表 rows."""

from __future__ import annotations

import datetime as dt
import logging
import math
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from . import audit, clock, db
from .exceptions import UserError
from .identity import InvalidIdentity, birth_date_of, gender_of, normalize_id_number
from .models import Enrollment, StoredFile, TechnicalStaff, TrainingBatch
from .settings import get_list
from .sms import SmsError, normalize_phone
from .uploads import storage_path

log = logging.getLogger(__name__)

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


class StaffRejected(UserError):
    """A staff record we refuse (the same person twice, a locked identity), saying why."""


def gender_code(value: Any) -> str | None:
    text = str(value or "").strip()
    for code, label in GENDERS.items():
        if text in (code, str(label), {"male": "男", "female": "女"}[code]):
            return code
    return None


# Fields holding digits: full-width digits (and a full-width Ｘ) typed with a Chinese input method
# count as the ordinary ones.
DIGIT_FIELDS = ("id_number", "mobile", "insurance_months")


def as_text(value: Any, key: str = "") -> str:
    """Cell or form value as text; whole numbers typed into Excel cells lose their '.0'.

    Width is folded in digit fields, and full-width spaces (used to pad two-character names) are
    dropped from names.
    """
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    if key in DIGIT_FIELDS:
        text = unicodedata.normalize("NFKC", text)
    elif key == "name":
        text = text.replace("\u3000", "")
    return text.strip()


def is_number_cell(value: Any) -> bool:
    """A spreadsheet cell holding a number (not text): its digits may already be rounded."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def number_cell_problem(key: str, value: Any) -> str | None:
    """Why an ID or phone number read from a number cell is refused rather than converted.

    A spreadsheet keeps 15 significant digits of a number: an 18-digit ID number in a number cell
    is already wrong, and turning it back into digits would only guess. A phone number (11 digits)
    survives, so only one that is not exactly 11 whole digits is refused.
    """
    if not is_number_cell(value):
        return None
    if key == "id_number":
        return _(
            "The cell is in number format: spreadsheet programs cut 18-digit ID card numbers short."
            " Format the column as text and type the numbers again"
        )
    whole = value if isinstance(value, int) else int(value) if math.isfinite(value) and value.is_integer() else None
    if key == "mobile" and (whole is None or len(str(abs(whole))) != 11 or whole < 0):
        return _(
            "The cell is in number format, which changes phone numbers. Format the column as text and type the numbers again"
        )
    return None


def check_staff(
    raw: dict[str, Any], choices: dict[str, list[str]] | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """Clean one staff record; returns (values, {field: Chinese message}) — values valid only without errors."""
    choices = choices or staff_choices()
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    text = {key: as_text(raw.get(key), key) for key, _label, _required in FIELDS}
    for key, label, required in FIELDS:
        if required and not text[key]:
            errors[key] = _("%(field)s is required", field=label)
    for key in ("id_number", "mobile"):
        problem = number_cell_problem(key, raw.get(key))
        if problem:
            errors[key] = problem
            text[key] = ""  # never converted, never checked further (no check-digit or gender guess)
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
        today = clock.today()
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
    try:
        db.session.flush()
    except IntegrityError:
        # The same person saved by a simultaneous request after the check above: same answer as the check.
        db.session.rollback()
        raise StaffRejected(_("A staff member with this ID card number is already registered")) from None
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
    today = today or clock.today()
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

    # New people and all enrolments go in as multi-row INSERTs (Core, not one ORM object each: the
    # unit of work cost more than reading and checking a 20,000-row sheet); people already on the
    # staff list are updated through the ORM.
    new_rows = []
    for values in result.rows:
        staff = registered.get(values["id_number"])
        if staff is None:
            new_rows.append({"enterprise_id": enterprise_id, **{k: values[k] for k in STAFF_COLUMNS}})
        else:
            for key in STAFF_COLUMNS:
                setattr(staff, key, values[key])
            staff.archived = False
            result.updated += 1
    db.session.flush()
    if new_rows:
        db.session.execute(insert(TechnicalStaff), new_rows)
        result.created = len(new_rows)
    staff_ids = dict(
        db.session.execute(
            select(TechnicalStaff.id_number, TechnicalStaff.id).where(TechnicalStaff.enterprise_id == enterprise_id)
        ).all()
    )
    db.session.execute(
        insert(Enrollment),
        [
            {
                "batch_id": batch_id,
                "staff_id": staff_ids[v["id_number"]],
                "enterprise_id": enterprise_id,
                "id_number": v["id_number"],
            }
            for v in result.rows
        ],
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


# --- Workbooks with errors ---------------------------------------------------------------------

ERROR_SHEET_PURPOSE = "training_errors"
PURGE_INTERVAL = dt.timedelta(minutes=10)
_last_purge: dt.datetime | None = None


def purge_error_workbooks(max_age: dt.timedelta | None = None, limit: int = 1000) -> int:
    """Delete the workbooks written for refused 报名表 uploads once they are older than `max_age`
    (TRAINING_ERROR_SHEET_MAX_AGE_HOURS by default): they hold the people's ID numbers and are
    only needed while the clerk corrects the sheet. Rows go first (committed), then the files: a
    file left behind by a failure is unreachable, a row without its file would not be.
    Returns the number deleted (at most `limit`)."""
    if max_age is None:
        max_age = dt.timedelta(hours=current_app.config.get("TRAINING_ERROR_SHEET_MAX_AGE_HOURS", 24))
    cutoff = dt.datetime.now(dt.UTC).replace(tzinfo=None) - max_age
    old = db.session.execute(
        select(StoredFile.id, StoredFile.storage_key)
        .where(StoredFile.purpose == ERROR_SHEET_PURPOSE, StoredFile.created_on < cutoff)
        .order_by(StoredFile.id)
        .limit(limit)
    ).all()
    if not old:
        return 0
    db.session.execute(delete(StoredFile).where(StoredFile.id.in_([row.id for row in old])))
    db.session.commit()
    for row in old:
        try:
            storage_path(row.storage_key).unlink(missing_ok=True)
        except (OSError, ValueError):
            log.warning("could not delete error workbook %s", row.storage_key, exc_info=True)
    return len(old)


def purge_error_workbooks_now_and_then() -> None:
    """Run the purge when a new error workbook is written, at most every PURGE_INTERVAL per process."""
    global _last_purge
    now = dt.datetime.now(dt.UTC)
    if _last_purge is not None and now - _last_purge < PURGE_INTERVAL:
        return
    _last_purge = now
    purge_error_workbooks()

"""Account commands: enterprise sign-up, legacy import and activation, password changes, wizards."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import io
import secrets
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, session
from flask_babel import gettext as _
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import generate_password_hash

from . import db, regions
from .exceptions import UserError
from .identity import InvalidIdentity, normalize_credit_code
from .models import Enterprise, LegacyAccount, PlatformUser, WizardDraft, utcnow

WIZARD_LIFETIME = dt.timedelta(minutes=30)
LEGACY_SCHEMES = ("md5", "sha1", "sha256_salted", "plain")


class AccountError(UserError):
    """A refused account operation with the Chinese message for the user."""


class WrongLegacyCredentials(AccountError):
    """The old system's account or password is wrong (counted by app.throttle)."""


def hash_password(password: str) -> str:
    config = current_app.config
    return generate_password_hash(
        password,
        method=config.get("FAB_PASSWORD_HASH_METHOD", "scrypt"),
        salt_length=config.get("FAB_PASSWORD_HASH_SALT_LENGTH", 16),
    )


def phone_taken(phone: str, except_user_id: int | None = None) -> bool:
    query = select(PlatformUser.id).where(or_(PlatformUser.phone == phone, PlatformUser.username == phone))
    if except_user_id is not None:
        query = query.where(PlatformUser.id != except_user_id)
    return db.session.scalar(query.limit(1)) is not None


def credit_code_taken(code: str) -> bool:
    return db.session.scalar(select(Enterprise.id).where(Enterprise.credit_code == code).limit(1)) is not None


def role_for_region(region_code: str) -> str:
    home = current_app.config.get("HOME_PROVINCE_CODE", "34")
    return "Enterprise" if region_code.startswith(home) else "OutOfProvinceEnterprise"


# --- Wizards -----------------------------------------------------------------------------------


def start_wizard(kind: str, step: int, **values: Any) -> WizardDraft:
    """A new server-side wizard; the session cookie carries only its random token."""
    discard_wizard(kind)
    now = utcnow()
    draft = WizardDraft(
        token=secrets.token_urlsafe(32),
        kind=kind,
        step=step,
        created_on=now,
        expires_on=now + WIZARD_LIFETIME,
        **values,
    )
    db.session.add(draft)
    db.session.commit()
    session[f"wizard_{kind}"] = draft.token
    return draft


def current_wizard(kind: str, at_least_step: int) -> WizardDraft | None:
    token = session.get(f"wizard_{kind}")
    if not token:
        return None
    draft = db.session.scalar(select(WizardDraft).where(WizardDraft.token == token, WizardDraft.kind == kind))
    if draft is None or draft.expires_on <= utcnow() or draft.step < at_least_step:
        return None
    return draft


def discard_wizard(kind: str) -> None:
    token = session.pop(f"wizard_{kind}", None)
    if token:
        db.session.execute(WizardDraft.__table__.delete().where(WizardDraft.token == token))
        db.session.commit()


# --- Sign-up -----------------------------------------------------------------------------------


@dataclass
class EnterpriseData:
    name: str
    credit_code: str
    region_code: str
    contact_person: str | None = None
    landline: str | None = None
    mobile: str | None = None
    address: str | None = None
    legal_person: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def create_enterprise_account(phone: str, password_hash: str, data: EnterpriseData) -> PlatformUser:
    """Create enterprise and account in one transaction; the role follows the enterprise's region."""
    resolved = regions.resolve(data.region_code)
    if resolved is None:
        raise AccountError(_("Please choose the province, city and district"))
    if phone_taken(phone):
        raise AccountError(_("This mobile phone number is already registered; please sign in"))
    if credit_code_taken(data.credit_code):
        raise AccountError(_("An enterprise with this unified social credit code is already registered"))
    province, city, district = resolved
    enterprise = Enterprise(
        name=data.name,
        credit_code=data.credit_code,
        region_code=data.region_code,
        province=province,
        city=city,
        district=district,
        contact_person=data.contact_person,
        mobile=data.mobile or phone,
        landline=data.landline,
        address=data.address,
        legal_person=data.legal_person,
    )
    db.session.add(enterprise)
    return _add_account(phone, password_hash, enterprise)


def _add_account(phone: str, password_hash: str, enterprise: Enterprise) -> PlatformUser:
    """The enterprise's first account (its role follows the region), committed with the enterprise."""
    sm = current_app.appbuilder.sm
    user = PlatformUser(
        username=phone,
        phone=phone,
        first_name=enterprise.contact_person or enterprise.name,
        last_name="",
        email=None,
        active=True,
        password=password_hash,
        roles=[sm.find_role(role_for_region(enterprise.region_code))],
        enterprise=enterprise,
    )
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        # Someone registered the same phone or credit code a moment ago.
        db.session.rollback()
        raise AccountError(_("This mobile phone number or enterprise is already registered")) from None
    return user


# --- Passwords ---------------------------------------------------------------------------------


def set_password(user: PlatformUser, password: str, keep_current_session: bool = True) -> None:
    """New password; every other session of the user is signed out (session_version moves on).

    `keep_current_session` is for the user changing its own password in this browser; an
    administrator resetting someone else's password must not touch the administrator's session.
    """
    user.password = hash_password(password)
    user.session_version = (user.session_version or 0) + 1
    db.session.commit()
    if keep_current_session:
        session["sv"] = user.session_version


# --- Legacy accounts ---------------------------------------------------------------------------


def legacy_password_matches(account: LegacyAccount, password: str) -> bool:
    scheme, stored = account.hash_scheme, account.password_hash
    raw = password.encode("utf-8")
    if scheme == "md5":
        computed = hashlib.md5(raw).hexdigest()  # noqa: S324 (the old system's scheme)
    elif scheme == "sha1":
        computed = hashlib.sha1(raw).hexdigest()  # noqa: S324
    elif scheme == "sha256_salted":
        computed = hashlib.sha256((account.salt or "").encode("utf-8") + raw).hexdigest()
    elif scheme == "plain":
        computed = password
    else:
        return False
    if scheme != "plain":
        computed, stored = computed.lower(), stored.lower()
    # Bytes: compare_digest refuses non-ASCII str, and old plain passwords may be Chinese.
    return hmac.compare_digest(computed.encode("utf-8"), stored.encode("utf-8"))


def check_legacy_login(old_account: str, password: str) -> LegacyAccount:
    account = db.session.scalar(select(LegacyAccount).where(LegacyAccount.old_account == old_account.strip()))
    if account is None or not legacy_password_matches(account, password):
        raise WrongLegacyCredentials(_("Wrong old system account or password"))
    if account.activated_on is not None:
        raise AccountError(_("This account has already been activated; please sign in with its mobile phone number"))
    return account


def activate_legacy_account(account_id: int, phone: str, password_hash: str) -> PlatformUser:
    """Turn a legacy account into an enterprise account, exactly once, in one transaction."""
    account = db.session.get(LegacyAccount, account_id)
    if account is None or account.activated_on is not None:
        raise AccountError(_("This account has already been activated; please sign in with its mobile phone number"))
    claimed = db.session.execute(
        update(LegacyAccount)
        .where(LegacyAccount.id == account_id, LegacyAccount.activated_on.is_(None))
        .values(activated_on=utcnow())
    )
    if claimed.rowcount != 1:
        db.session.rollback()
        raise AccountError(_("This account has already been activated; please sign in with its mobile phone number"))
    data = EnterpriseData(
        name=account.enterprise_name,
        credit_code=account.credit_code,
        region_code=account.region_code,
        contact_person=account.contact_person,
        landline=account.landline,
        mobile=account.mobile,
        address=account.address,
        legal_person=account.legal_person,
    )
    try:
        imported = imported_enterprise(account.credit_code)
        if imported is not None:
            user = create_account_for_imported(phone, password_hash, imported)
        else:
            user = create_enterprise_account(phone, password_hash, data)
    except AccountError:
        db.session.rollback()
        raise
    account.activated_user_id = user.id
    db.session.commit()
    return user


def imported_enterprise(credit_code: str) -> Enterprise | None:
    """The enterprise `flask legacy import enterprises` created for this credit code, still without an account."""
    enterprise = db.session.scalar(select(Enterprise).where(Enterprise.credit_code == credit_code))
    if enterprise is None or db.session.scalar(select(PlatformUser.id).where(PlatformUser.enterprise_id == enterprise.id)):
        return None
    return enterprise


def create_account_for_imported(phone: str, password_hash: str, enterprise: Enterprise) -> PlatformUser:
    """The account of an imported enterprise: its certificates and memberships are already there."""
    if phone_taken(phone):
        raise AccountError(_("This mobile phone number is already registered; please sign in"))
    enterprise.mobile = enterprise.mobile or phone
    return _add_account(phone, password_hash, enterprise)


LEGACY_COLUMNS = [
    "old_account",
    "password_hash",
    "hash_scheme",
    "salt",
    "enterprise_name",
    "credit_code",
    "region_code",
    "contact_person",
    "mobile",
    "landline",
    "address",
    "legal_person",
]
LEGACY_REQUIRED = ["old_account", "password_hash", "hash_scheme", "enterprise_name", "credit_code", "region_code"]
HEX_LENGTHS = {"md5": 32, "sha1": 40, "sha256_salted": 64}


def decode_legacy_csv(raw: bytes) -> str:
    """UTF-8 (with or without BOM) first, then GBK: what Chinese Excel exports."""
    for encoding in ("utf-8-sig", "gbk"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise AccountError("file is neither UTF-8 nor GBK")


def parse_legacy_csv(raw: bytes) -> tuple[list[dict[str, str]], list[str]]:
    """Rows and a list of 'line N: problem' errors; the import happens only when errors is empty."""
    text = decode_legacy_csv(raw)
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in LEGACY_REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        return [], [f"header: missing columns {', '.join(missing)}"]
    rows, errors = [], []
    seen_accounts: dict[str, int] = {}
    seen_codes: dict[str, int] = {}
    existing_accounts = set(db.session.scalars(select(LegacyAccount.old_account)))
    existing_codes = set(db.session.scalars(select(LegacyAccount.credit_code))) | set(
        db.session.scalars(select(Enterprise.credit_code))
    )
    for line, record in enumerate(reader, start=2):
        row = {column: (record.get(column) or "").strip() for column in LEGACY_COLUMNS}
        problems = [f"{column} is empty" for column in LEGACY_REQUIRED if not row[column]]
        scheme = row["hash_scheme"].lower()
        row["hash_scheme"] = scheme
        if scheme and scheme not in LEGACY_SCHEMES:
            problems.append(f"hash_scheme {scheme!r} is not one of {', '.join(LEGACY_SCHEMES)}")
        if scheme in HEX_LENGTHS and row["password_hash"]:
            value = row["password_hash"].lower()
            if len(value) != HEX_LENGTHS[scheme] or any(ch not in "0123456789abcdef" for ch in value):
                problems.append(f"password_hash is not a {HEX_LENGTHS[scheme]}-character hex {scheme} digest")
            row["password_hash"] = value
        if scheme == "sha256_salted" and not row["salt"]:
            problems.append("salt is empty (needed by sha256_salted)")
        if row["credit_code"]:
            try:
                row["credit_code"] = normalize_credit_code(row["credit_code"])
            except InvalidIdentity as error:
                problems.append(f"credit_code: {error.message}")
        if row["region_code"] and regions.resolve(row["region_code"]) is None:
            problems.append(f"region_code {row['region_code']!r} is not a current district code")
        if row["old_account"] in seen_accounts:
            problems.append(f"old_account repeats line {seen_accounts[row['old_account']]}")
        elif row["old_account"] in existing_accounts:
            problems.append("old_account was imported before")
        if row["credit_code"] in seen_codes:
            problems.append(f"credit_code repeats line {seen_codes[row['credit_code']]}")
        elif row["credit_code"] in existing_codes:
            problems.append("credit_code already exists")
        seen_accounts.setdefault(row["old_account"], line)
        seen_codes.setdefault(row["credit_code"], line)
        errors.extend(f"line {line}: {problem}" for problem in problems)
        rows.append(row)
    if not rows and not errors:
        errors.append("the file has no data rows")
    return rows, errors


def import_legacy_accounts(raw: bytes) -> tuple[int, list[str]]:
    """Import all rows or none. Returns (rows imported, errors)."""
    rows, errors = parse_legacy_csv(raw)
    if errors:
        return 0, errors
    for row in rows:
        db.session.add(
            LegacyAccount(
                old_account=row["old_account"],
                password_hash=row["password_hash"],
                hash_scheme=row["hash_scheme"],
                salt=row["salt"] or None,
                enterprise_name=row["enterprise_name"],
                credit_code=row["credit_code"],
                region_code=row["region_code"],
                contact_person=row["contact_person"] or None,
                mobile=row["mobile"] or None,
                landline=row["landline"] or None,
                address=row["address"] or None,
                legal_person=row["legal_person"] or None,
            )
        )
    db.session.commit()
    return len(rows), []

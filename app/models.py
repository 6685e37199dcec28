"""All SQLAlchemy models of the platform, grouped by section."""

from __future__ import annotations

import datetime as dt

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates


def utcnow() -> dt.datetime:
    """Naive UTC now: how every timestamp column stores time."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class TimestampMixin:
    """created/changed stamps (UTC, naive) on every row that people edit."""

    created_on: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, server_default=func.now(), nullable=False)
    changed_on: Mapped[dt.datetime] = mapped_column(
        DateTime, default=utcnow, onupdate=utcnow, server_default=func.now(), nullable=False
    )


# --- Enterprises -------------------------------------------------------------------------------


class Enterprise(TimestampMixin, Model):
    """A security-engineering enterprise: the tenant that owns every enterprise-side row."""

    __tablename__ = "enterprise"
    __scope_column__ = "id"  # the tenant is the enterprise itself

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False, index=True)
    credit_code: Mapped[str] = mapped_column(String(18), nullable=False, unique=True)
    legal_person: Mapped[str | None] = mapped_column(String(50))
    registered_capital: Mapped[float | None] = mapped_column(Numeric(14, 2))  # 万元
    founded_on: Mapped[dt.date | None] = mapped_column(Date)
    address: Mapped[str | None] = mapped_column(String(300))
    region_code: Mapped[str] = mapped_column(String(6), nullable=False, index=True)
    province: Mapped[str] = mapped_column(String(30), nullable=False)
    city: Mapped[str] = mapped_column(String(30), nullable=False)
    district: Mapped[str] = mapped_column(String(30), nullable=False)
    contact_person: Mapped[str | None] = mapped_column(String(50))
    mobile: Mapped[str | None] = mapped_column(String(20))
    landline: Mapped[str | None] = mapped_column(String(30))
    email: Mapped[str | None] = mapped_column(String(320))
    business_scope: Mapped[str | None] = mapped_column(Text)

    users: Mapped[list[PlatformUser]] = relationship(back_populates="enterprise")

    @validates("credit_code")
    def _check_credit_code(self, _key: str, value: str) -> str:
        from .identity import normalize_credit_code

        return normalize_credit_code(value)

    @property
    def region_label(self) -> str:
        return " ".join(part for part in (self.province, self.city, self.district) if part)

    def __repr__(self) -> str:
        return self.name


# --- Accounts ----------------------------------------------------------------------------------

# Enterprise accounts sign in with their mobile number and may have no e-mail address;
# FAB declares the column NOT NULL, so relax it before the subclass extends the table.
User.__table__.c.email.nullable = True


class PlatformUser(User):
    """FAB's user extended with a phone number and the enterprise the account belongs to."""

    __tablename__ = "ab_user"

    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    # Bumped by a password change: sessions signed in under an older value are signed out.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprise.id"), index=True)
    enterprise: Mapped[Enterprise | None] = relationship(back_populates="users")

    def get_full_name(self) -> str:
        # Chinese names are written family name first, without a space.
        return f"{self.last_name or ''}{self.first_name or ''}" or self.username


# --- Files -------------------------------------------------------------------------------------


class StoredFile(Model):
    """Every upload: stored outside static files under a random key, served by one protected view."""

    __tablename__ = "stored_file"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprise.id"), index=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    purpose: Mapped[str] = mapped_column(String(50), nullable=False)
    original_name: Mapped[str] = mapped_column(String(255), nullable=False)
    storage_key: Mapped[str] = mapped_column(String(80), nullable=False, unique=True)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    created_on: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, server_default=func.now(), nullable=False)

    enterprise: Mapped[Enterprise | None] = relationship()
    uploaded_by: Mapped[PlatformUser | None] = relationship()


# --- Verification codes and wizards ------------------------------------------------------------


class SmsCode(Model):
    """One SMS verification code: stored hashed, bound to a phone and a purpose, used once."""

    __tablename__ = "sms_code"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), nullable=False)
    purpose: Mapped[str] = mapped_column(String(30), nullable=False)
    code_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    created_on: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    expires_on: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    consumed_on: Mapped[dt.datetime | None] = mapped_column(DateTime)

    __table_args__ = (Index("ix_sms_code_phone_created", "phone", "created_on"),)


class WizardDraft(Model):
    """Server-side state of a multi-step form (registration, legacy activation, password reset).

    The browser holds only the random token, so a step cannot be skipped or its verified data
    (the phone) swapped by posting a later step's form.
    """

    __tablename__ = "wizard_draft"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    step: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    phone: Mapped[str | None] = mapped_column(String(20))
    password_hash: Mapped[str | None] = mapped_column(String(256))
    legacy_account_id: Mapped[int | None] = mapped_column(ForeignKey("legacy_account.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    created_on: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    expires_on: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)


# --- Legacy accounts ---------------------------------------------------------------------------


class LegacyAccount(Model):
    """An account exported from the old system, waiting to be activated once with a phone."""

    __tablename__ = "legacy_account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    old_account: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)
    password_hash: Mapped[str] = mapped_column(String(256), nullable=False)
    hash_scheme: Mapped[str] = mapped_column(String(20), nullable=False)
    salt: Mapped[str | None] = mapped_column(String(100))
    enterprise_name: Mapped[str] = mapped_column(String(200), nullable=False)
    credit_code: Mapped[str] = mapped_column(String(18), nullable=False, unique=True)
    region_code: Mapped[str] = mapped_column(String(6), nullable=False)
    contact_person: Mapped[str | None] = mapped_column(String(50))
    mobile: Mapped[str | None] = mapped_column(String(20))
    landline: Mapped[str | None] = mapped_column(String(30))
    address: Mapped[str | None] = mapped_column(String(300))
    legal_person: Mapped[str | None] = mapped_column(String(50))
    imported_on: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    activated_on: Mapped[dt.datetime | None] = mapped_column(DateTime)
    activated_user_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))

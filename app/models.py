"""All SQLAlchemy models of the platform, grouped by section."""

from __future__ import annotations

import datetime as dt

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    select,
    text,
)
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship, validates


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

    # The error-workbook purge looks for one purpose older than a cutoff.
    __table_args__ = (Index("ix_stored_file_purpose_created", "purpose", "created_on"),)


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


# --- Configuration -----------------------------------------------------------------------------


class Setting(Model):
    """Configuration the association edits in the back office (notice texts, times, patterns)."""

    __tablename__ = "setting"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False, default="")
    description: Mapped[str | None] = mapped_column(String(300))

    def __repr__(self) -> str:
        return self.key


class MemberTier(Model):
    """会员级别 with its annual fee (RULES.md: 会员单位, 理事单位, 常务理事单位, 副会长单位)."""

    __tablename__ = "member_tier"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(50), nullable=False, unique=True)
    annual_fee: Mapped[float] = mapped_column(Numeric(12, 2), nullable=False)
    sort_order: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    def __repr__(self) -> str:
        return self.name


class NumberSequence(Model):
    """Last number issued per kind and year: one row, locked while a number is taken (gapless)."""

    __tablename__ = "number_sequence"

    kind: Mapped[str] = mapped_column(String(30), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


# --- Applications and their review -------------------------------------------------------------


class Application(TimestampMixin, Model):
    """The base of every reviewed request; `kind` names the workflow that drives it."""

    __tablename__ = "application"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(30), nullable=False, index=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"), nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(30), nullable=False, index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    submitted_on: Mapped[dt.datetime | None] = mapped_column(DateTime, index=True)
    received_on: Mapped[dt.datetime | None] = mapped_column(DateTime)
    decided_on: Mapped[dt.datetime | None] = mapped_column(DateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))

    enterprise: Mapped[Enterprise] = relationship()
    decided_by: Mapped[PlatformUser | None] = relationship(foreign_keys=[decided_by_id])
    status_logs: Mapped[list[StatusLog]] = relationship(
        back_populates="application", order_by="StatusLog.id", cascade="all, delete-orphan"
    )
    payment: Mapped[Payment | None] = relationship(uselist=False, cascade="all, delete-orphan")
    files: Mapped[list[ApplicationFile]] = relationship(order_by="ApplicationFile.id", cascade="all, delete-orphan")

    __mapper_args__ = {"polymorphic_on": "kind", "polymorphic_identity": "application"}


class StatusLog(Model):
    """One row per transition: who moved the application from which state to which, and why."""

    __tablename__ = "status_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"), nullable=False, index=True)
    transition: Mapped[str] = mapped_column(String(40), nullable=False)
    from_status: Mapped[str | None] = mapped_column(String(30))
    to_status: Mapped[str] = mapped_column(String(30), nullable=False)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    actor_name: Mapped[str] = mapped_column(String(128), nullable=False)
    comment: Mapped[str | None] = mapped_column(Text)
    ip: Mapped[str | None] = mapped_column(String(45))
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)

    application: Mapped[Application] = relationship(back_populates="status_logs")


class AuditLog(Model):
    """Every state change and every back-office write: who, when, what, before/after, from where."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"), index=True)
    actor_name: Mapped[str] = mapped_column(String(128), nullable=False)
    action: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    object_type: Mapped[str] = mapped_column(String(60), nullable=False, index=True)
    object_id: Mapped[str | None] = mapped_column(String(60))
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)
    comment: Mapped[str | None] = mapped_column(Text)
    ip: Mapped[str | None] = mapped_column(String(45))
    request_id: Mapped[str | None] = mapped_column(String(36))


class Notification(Model):
    """Every SMS and in-app message sent to an enterprise, with its channel and result."""

    __tablename__ = "notification"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprise.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"), index=True)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("application.id"))
    channel: Mapped[str] = mapped_column(String(10), nullable=False)  # sms | inapp
    recipient: Mapped[str | None] = mapped_column(String(128))
    subject: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    result: Mapped[str] = mapped_column(String(20), nullable=False)  # sent | failed | delivered
    error: Mapped[str | None] = mapped_column(String(300))
    created_on: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    read_on: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # Which message template sent it, and how often an SMS was tried (failed ones are retried by a job).
    event: Mapped[str | None] = mapped_column(String(80))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")

    __table_args__ = (Index("ix_notification_channel_result", "channel", "result"),)


# --- Shared parts of applications: payment and delivery, supporting files, issued certificates ----


class Payment(TimestampMixin, Model):
    """证书发放方式 and 缴费 of one application (any workflow that charges a fee and delivers a certificate)."""

    __tablename__ = "payment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"), nullable=False, unique=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"), nullable=False, index=True)
    fee: Mapped[float | None] = mapped_column(Numeric(12, 2))
    delivery_method: Mapped[str | None] = mapped_column(String(10))  # mail | pickup
    mail_recipient: Mapped[str | None] = mapped_column(String(50))
    mail_phone: Mapped[str | None] = mapped_column(String(20))
    mail_address: Mapped[str | None] = mapped_column(String(300))
    file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_file.id"))
    phone: Mapped[str | None] = mapped_column(String(20))
    submitted_on: Mapped[dt.datetime | None] = mapped_column(DateTime)

    file: Mapped[StoredFile | None] = relationship()


class ApplicationFile(Model):
    """A supporting file of an application, tied to the material requirement it answers."""

    __tablename__ = "application_file"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"), nullable=False, index=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"), nullable=False, index=True)
    requirement: Mapped[str] = mapped_column(String(60), nullable=False)  # the material's code
    label: Mapped[str] = mapped_column(String(100), nullable=False)  # its name when uploaded
    file_id: Mapped[int] = mapped_column(ForeignKey("stored_file.id"), nullable=False)
    created_on: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)

    file: Mapped[StoredFile] = relationship()


class Certificate(TimestampMixin, Model):
    """Every issued document — membership, training, qualification, filing — in one register."""

    __tablename__ = "certificate"
    __table_args__ = (Index("ix_certificate_kind_status", "kind", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    number: Mapped[str] = mapped_column(String(60), nullable=False, unique=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"), nullable=False, index=True)
    holder_name: Mapped[str] = mapped_column(String(200), nullable=False)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("application.id"), index=True)
    level: Mapped[str | None] = mapped_column(String(30))
    issued_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    valid_from: Mapped[dt.date] = mapped_column(Date, nullable=False)
    valid_until: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="valid")
    copies_original: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    copies_duplicate: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("certificate.id"))

    enterprise: Mapped[Enterprise] = relationship()
    events: Mapped[list[CertificateEvent]] = relationship(
        back_populates="certificate", order_by="CertificateEvent.id", cascade="all, delete-orphan"
    )


class CertificateEvent(Model):
    """The history of a certificate: issued, reviewed, suspended, revoked, superseded …"""

    __tablename__ = "certificate_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificate.id"), nullable=False, index=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"), nullable=False, index=True)
    event: Mapped[str] = mapped_column(String(30), nullable=False)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20), nullable=False)
    note: Mapped[str | None] = mapped_column(Text)
    # For an annual review: the calendar year of the anniversary it passed (platform or old system).
    review_year: Mapped[int | None] = mapped_column(Integer)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    actor_name: Mapped[str] = mapped_column(String(128), nullable=False)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)

    certificate: Mapped[Certificate] = relationship(back_populates="events")


# --- Membership --------------------------------------------------------------------------------


class MembershipApplication(Application):
    """入会申请: the form and the association's decision; delivery and payment are the shared `Payment` part."""

    __tablename__ = "membership_application"
    __mapper_args__ = {"polymorphic_identity": "membership"}

    id: Mapped[int] = mapped_column(ForeignKey("application.id"), primary_key=True)
    tier_id: Mapped[int] = mapped_column(ForeignKey("member_tier.id"), nullable=False)
    legal_person: Mapped[str] = mapped_column(String(50), nullable=False)
    registered_capital: Mapped[float] = mapped_column(Numeric(14, 2), nullable=False)
    employees: Mapped[int] = mapped_column(Integer, nullable=False)
    technical_staff: Mapped[int] = mapped_column(Integer, nullable=False)
    main_business: Mapped[str] = mapped_column(String(500), nullable=False)
    introduction: Mapped[str | None] = mapped_column(Text)
    contact_person: Mapped[str] = mapped_column(String(50), nullable=False)
    contact_phone: Mapped[str] = mapped_column(String(20), nullable=False)
    notice_read_on: Mapped[dt.datetime | None] = mapped_column(DateTime)

    tier: Mapped[MemberTier] = relationship()


class Membership(TimestampMixin, Model):
    """A membership period won by a confirmed payment: member number, tier and validity."""

    __tablename__ = "membership"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"), nullable=False, index=True)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("application.id"), unique=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificate.id"), nullable=False, unique=True)
    tier_id: Mapped[int] = mapped_column(ForeignKey("member_tier.id"), nullable=False)
    fee: Mapped[float] = mapped_column(Numeric(12, 2), nullable=False)
    valid_from: Mapped[dt.date] = mapped_column(Date, nullable=False)
    valid_until: Mapped[dt.date] = mapped_column(Date, nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="valid")

    enterprise: Mapped[Enterprise] = relationship()
    tier: Mapped[MemberTier] = relationship()
    certificate: Mapped[Certificate] = relationship()
    # The member number lives in the certificate register; read here for lists and templates.
    member_number: Mapped[str] = column_property(
        select(Certificate.number)
        .where(Certificate.id == certificate_id)
        .correlate_except(Certificate)
        .scalar_subquery()
    )


# --- Technical staff and training --------------------------------------------------------------


class TechnicalStaff(TimestampMixin, Model):
    """A technical staff member registered by an enterprise (技术培训 -> 新增)."""

    __tablename__ = "technical_staff"
    __table_args__ = (UniqueConstraint("enterprise_id", "id_number", name="uq_staff_enterprise_id_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(50), nullable=False)
    gender: Mapped[str] = mapped_column(String(10), nullable=False)  # male | female
    id_number: Mapped[str] = mapped_column(String(18), nullable=False, index=True)
    mobile: Mapped[str] = mapped_column(String(20), nullable=False)
    education: Mapped[str] = mapped_column(String(30), nullable=False)
    major: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(30), nullable=False)  # 职称
    position: Mapped[str] = mapped_column(String(30), nullable=False)  # 岗位
    insurance_months: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    photo_file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_file.id"))
    archived: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)

    enterprise: Mapped[Enterprise] = relationship()
    certificates: Mapped[list[StaffCertificate]] = relationship(back_populates="staff", order_by="StaffCertificate.id")


class StaffCertificate(Model):
    """A certificate a staff member holds: kind, number, grade, validity and its scan."""

    __tablename__ = "staff_certificate"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("technical_staff.id"), nullable=False, index=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(60), nullable=False)
    number: Mapped[str] = mapped_column(String(60), nullable=False)
    grade: Mapped[str | None] = mapped_column(String(30))
    issued_on: Mapped[dt.date | None] = mapped_column(Date)
    expires_on: Mapped[dt.date | None] = mapped_column(Date)
    scan_file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_file.id"))

    staff: Mapped[TechnicalStaff] = relationship(back_populates="certificates")

    # Two simultaneous 添加证书 of one certificate leave one row.
    __table_args__ = (UniqueConstraint("staff_id", "kind", "number", name="uq_staff_certificate_number"),)


class TrainingBatch(TimestampMixin, Model):
    """A training batch published by the association, with its sign-up notice and capacity."""

    __tablename__ = "training_batch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    notice: Mapped[str] = mapped_column(Text, nullable=False, default="")
    starts_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    ends_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    place: Mapped[str] = mapped_column(String(200), nullable=False)
    capacity: Mapped[int] = mapped_column(Integer, nullable=False)
    fee: Mapped[float] = mapped_column(Numeric(10, 2), nullable=False, default=0)
    signup_opens_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    signup_closes_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="open")  # draft | open | closed | finished

    def __repr__(self) -> str:
        return self.name


class Enrollment(TimestampMixin, Model):
    """One staff member signed up for one batch: 已报名 -> 已确认 -> 合格 / 不合格."""

    __tablename__ = "enrollment"
    __table_args__ = (UniqueConstraint("batch_id", "id_number", name="uq_enrollment_batch_person"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("training_batch.id"), nullable=False, index=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("technical_staff.id"), nullable=False, index=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"), nullable=False, index=True)
    id_number: Mapped[str] = mapped_column(String(18), nullable=False)  # one seat per person and batch
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="registered")
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("certificate.id"), unique=True)
    result_on: Mapped[dt.date | None] = mapped_column(Date)

    batch: Mapped[TrainingBatch] = relationship()
    staff: Mapped[TechnicalStaff] = relationship()
    enterprise: Mapped[Enterprise] = relationship()
    certificate: Mapped[Certificate | None] = relationship()
    # The training certificate number lives in the certificate register.
    certificate_number: Mapped[str | None] = column_property(
        select(Certificate.number)
        .where(Certificate.id == certificate_id)
        .correlate_except(Certificate)
        .scalar_subquery()
    )


# --- Qualification -----------------------------------------------------------------------------


class QualificationLevel(Model):
    """A qualification level (资质等级) and its thresholds; a higher `rank` is a higher level (一级 highest)."""

    __tablename__ = "qualification_level"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(20), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(30), nullable=False, unique=True)
    rank: Mapped[int] = mapped_column(Integer, nullable=False, unique=True)
    validity_years: Mapped[int] = mapped_column(Integer, nullable=False, default=3)
    min_registered_capital: Mapped[float | None] = mapped_column(Numeric(14, 2))  # 万元
    min_office_area: Mapped[float | None] = mapped_column(Numeric(10, 2))  # ㎡
    project_years: Mapped[int] = mapped_column(Integer, nullable=False, default=2)
    min_project_value: Mapped[float | None] = mapped_column(Numeric(14, 2))  # 万元, completed in project_years
    min_project_count: Mapped[int | None] = mapped_column(Integer)
    large_project_value: Mapped[float | None] = mapped_column(Numeric(14, 2))  # 万元, "single project ≥"
    min_large_projects: Mapped[int | None] = mapped_column(Integer)
    iso9001_required: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    years_held_before_upgrade: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    rules: Mapped[list[StaffingRule]] = relationship(
        back_populates="level", order_by="StaffingRule.sort_order, StaffingRule.id"
    )

    def __repr__(self) -> str:
        return self.name


class StaffingRule(Model):
    """One line of a level's staffing rule: at least `min_count` staff matching every set condition."""

    __tablename__ = "staffing_rule"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    level_id: Mapped[int] = mapped_column(ForeignKey("qualification_level.id"), nullable=False, index=True)
    min_count: Mapped[int] = mapped_column(Integer, nullable=False)
    # a title other than 无, a professional certificate, or a passed training
    requires_credential: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    titles: Mapped[str | None] = mapped_column(String(200))  # comma-separated 职称, any of them
    positions: Mapped[str | None] = mapped_column(String(200))  # comma-separated 岗位, any of them
    training_passed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    certificate_kind: Mapped[str | None] = mapped_column(String(60))  # a valid certificate whose name contains it
    certificate_grade: Mapped[str | None] = mapped_column(String(30))
    min_insurance_months: Mapped[int | None] = mapped_column(Integer)
    sort_order: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    level: Mapped[QualificationLevel] = relationship(back_populates="rules")

    @property
    def description(self) -> str:
        from .qualification import describe_rule

        return describe_rule(self)


class MaterialRequirement(Model):
    """A 评审材料 slot: for one level (or all) and one application type (or all)."""

    __tablename__ = "material_requirement"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(60), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    level_id: Mapped[int | None] = mapped_column(ForeignKey("qualification_level.id"), index=True)
    application_kind: Mapped[str | None] = mapped_column(String(30))  # None: every qualification type
    required: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    accept: Mapped[str] = mapped_column(String(20), nullable=False, default="image,pdf")
    max_mb: Mapped[int] = mapped_column(Integer, nullable=False, default=20)
    help_text: Mapped[str | None] = mapped_column(String(300))
    sort_order: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    level: Mapped[QualificationLevel | None] = relationship()


class QualificationApplication(Application):
    """资质申请, 资质年审, 资质晋级, 资质降级 and 到期换证: one table, one workflow (and queue) per type."""

    __tablename__ = "qualification_application"
    __mapper_args__ = {"polymorphic_abstract": True}

    id: Mapped[int] = mapped_column(ForeignKey("application.id"), primary_key=True)
    level_id: Mapped[int] = mapped_column(ForeignKey("qualification_level.id"), nullable=False)
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("certificate.id"), index=True)
    wizard_step: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    office_area: Mapped[float | None] = mapped_column(Numeric(10, 2))
    iso9001: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    review_year: Mapped[int | None] = mapped_column(Integer)  # 年审: the certificate year reviewed
    snapshot: Mapped[str | None] = mapped_column(Text)  # JSON: rules, materials and verdict at submission

    level: Mapped[QualificationLevel] = relationship()
    certificate: Mapped[Certificate | None] = relationship(foreign_keys=[certificate_id])
    staff: Mapped[list[QualificationStaff]] = relationship(
        back_populates="application", order_by="QualificationStaff.id", cascade="all, delete-orphan"
    )
    projects: Mapped[list[QualificationProject]] = relationship(
        order_by="QualificationProject.id", cascade="all, delete-orphan"
    )


class NewQualification(QualificationApplication):
    __mapper_args__ = {"polymorphic_identity": "qualification_new"}


class AnnualReview(QualificationApplication):
    __mapper_args__ = {"polymorphic_identity": "qualification_annual"}


class Upgrade(QualificationApplication):
    __mapper_args__ = {"polymorphic_identity": "qualification_upgrade"}


class Downgrade(QualificationApplication):
    __mapper_args__ = {"polymorphic_identity": "qualification_downgrade"}


class Renewal(QualificationApplication):
    __mapper_args__ = {"polymorphic_identity": "qualification_renewal"}


class QualificationStaff(Model):
    """A registered staff member counted in a qualification application, with the person's proof."""

    __tablename__ = "qualification_staff"
    __table_args__ = (UniqueConstraint("application_id", "staff_id", name="uq_qualification_staff"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("qualification_application.id"), nullable=False)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"), nullable=False, index=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("technical_staff.id"), nullable=False, index=True)
    id_number: Mapped[str] = mapped_column(String(18), nullable=False, index=True)
    proof_file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_file.id"))

    application: Mapped[QualificationApplication] = relationship(back_populates="staff")
    person: Mapped[TechnicalStaff] = relationship()
    proof_file: Mapped[StoredFile | None] = relationship()


class QualificationProject(Model):
    """A completed project declared for the level's performance threshold (with acceptance proof)."""

    __tablename__ = "qualification_project"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("qualification_application.id"), nullable=False, index=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    client: Mapped[str] = mapped_column(String(200), nullable=False)
    contract_value: Mapped[float] = mapped_column(Numeric(14, 2), nullable=False)  # 万元
    completed_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    proof_file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_file.id"))

    proof_file: Mapped[StoredFile | None] = relationship()


# --- Information change and certificate replacement --------------------------------------------

# The profile fields 信息变更 may change (the 统一社会信用代码 never changes), in form order.
PROFILE_FIELDS = (
    "name",
    "legal_person",
    "registered_capital",
    "address",
    "contact_person",
    "mobile",
    "landline",
    "email",
    "business_scope",
)


class ChangeRequest(Application):
    """信息变更: the profile as the enterprise asks it to be; written to `Enterprise` on approval."""

    __tablename__ = "change_request"
    __mapper_args__ = {"polymorphic_identity": "change"}

    id: Mapped[int] = mapped_column(ForeignKey("application.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    legal_person: Mapped[str | None] = mapped_column(String(50))
    registered_capital: Mapped[float | None] = mapped_column(Numeric(14, 2))  # 万元
    address: Mapped[str | None] = mapped_column(String(300))
    contact_person: Mapped[str | None] = mapped_column(String(50))
    mobile: Mapped[str | None] = mapped_column(String(20))
    landline: Mapped[str | None] = mapped_column(String(30))
    email: Mapped[str | None] = mapped_column(String(320))
    business_scope: Mapped[str | None] = mapped_column(Text)
    explanation: Mapped[str | None] = mapped_column(Text)  # 变更说明


class ProfileChange(Model):
    """One approved change of one profile field: old → new, when and approved by whom."""

    __tablename__ = "profile_change"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"), nullable=False, index=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("change_request.id"), nullable=False, index=True)
    field: Mapped[str] = mapped_column(String(40), nullable=False)
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    changed_on: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    approved_by_name: Mapped[str] = mapped_column(String(128), nullable=False)


class ReplacementRequest(Application):
    """证书补办 (挂失申请): one copy of one of the enterprise's certificates, lost or damaged, reissued."""

    __tablename__ = "replacement_request"
    __mapper_args__ = {"polymorphic_identity": "replacement"}

    id: Mapped[int] = mapped_column(ForeignKey("application.id"), primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificate.id"), nullable=False, index=True)
    copy: Mapped[str] = mapped_column(String(10), nullable=False)  # original (正本) | duplicate (副本)
    reason: Mapped[str] = mapped_column(String(10), nullable=False)  # lost | damaged | changed
    statement: Mapped[str] = mapped_column(Text, nullable=False)
    # Set on approval: the serial of the copy declared void and of the copy issued in its place.
    voided_serial: Mapped[int | None] = mapped_column(Integer)
    issued_serial: Mapped[int | None] = mapped_column(Integer)

    certificate: Mapped[Certificate] = relationship(foreign_keys=[certificate_id])


# --- Out-of-province filing and certificate documents ------------------------------------------


class FilingApplication(Application):
    """外省企业备案: an out-of-province enterprise's 登记表 (home qualification, person in charge, projects)."""

    __tablename__ = "filing_application"
    __mapper_args__ = {"polymorphic_identity": "filing"}

    id: Mapped[int] = mapped_column(ForeignKey("application.id"), primary_key=True)
    home_qualification: Mapped[str] = mapped_column(String(200), nullable=False)  # name and level at home
    home_certificate_number: Mapped[str | None] = mapped_column(String(60))
    home_certificate_file_id: Mapped[int] = mapped_column(ForeignKey("stored_file.id"), nullable=False)
    person_in_charge: Mapped[str] = mapped_column(String(50), nullable=False)
    person_in_charge_phone: Mapped[str] = mapped_column(String(20), nullable=False)
    # A filing applied for while an earlier one is still in force (renewal before expiry).
    renews_id: Mapped[int | None] = mapped_column(ForeignKey("certificate.id"))

    home_certificate_file: Mapped[StoredFile] = relationship()
    projects: Mapped[list[FilingProject]] = relationship(
        order_by="FilingProject.id", cascade="all, delete-orphan", back_populates="application"
    )

    @property
    def project_rows(self) -> list[dict]:
        """The projects as plain values: what the form edits and the audit log records."""
        return [
            {
                "name": project.name,
                "city": project.city,
                "contract_value": project.contract_value,
                "start_on": project.start_on,
                "end_on": project.end_on,
            }
            for project in self.projects
        ]

    @project_rows.setter
    def project_rows(self, rows: list[dict]) -> None:
        self.projects = [FilingProject(enterprise_id=self.enterprise_id, **row) for row in rows]


class FilingProject(Model):
    """A project the enterprise carries out in the province, declared on the 登记表."""

    __tablename__ = "filing_project"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("filing_application.id"), nullable=False, index=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    city: Mapped[str] = mapped_column(String(30), nullable=False)
    contract_value: Mapped[float] = mapped_column(Numeric(14, 2), nullable=False)  # 万元
    start_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    end_on: Mapped[dt.date | None] = mapped_column(Date)

    application: Mapped[FilingApplication] = relationship(back_populates="projects")


class CertificateDocument(Model):
    """A rendered certificate PDF, cached by the hash of what it shows (status, 年审, layout …)."""

    __tablename__ = "certificate_document"
    __table_args__ = (UniqueConstraint("certificate_id", "copy", "content_hash", name="uq_certificate_document"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificate.id"), nullable=False, index=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"), nullable=False, index=True)
    copy: Mapped[str] = mapped_column(String(10), nullable=False)  # original | duplicate
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    file_id: Mapped[int] = mapped_column(ForeignKey("stored_file.id"), nullable=False)
    created_on: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)

    file: Mapped[StoredFile] = relationship()


# --- Scheduled jobs, reminders and message templates -------------------------------------------


class JobRun(Model):
    """One run of a scheduled job. The unique (job, scheduled_for) key is the lock: of several
    scheduler processes (or hosts) that reach the same slot, only the one that inserts the row runs it."""

    __tablename__ = "job_run"
    __table_args__ = (UniqueConstraint("job", "scheduled_for", name="uq_job_run_slot"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job: Mapped[str] = mapped_column(String(40), nullable=False)
    scheduled_for: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)  # UTC, naive
    trigger: Mapped[str] = mapped_column(String(10), nullable=False)  # schedule | catch_up | manual
    started_on: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    finished_on: Mapped[dt.datetime | None] = mapped_column(DateTime)
    result: Mapped[str] = mapped_column(String(10), nullable=False, default="running")  # running | ok | failed
    counts: Mapped[str | None] = mapped_column(Text)  # JSON object: what the run did
    error: Mapped[str | None] = mapped_column(Text)
    host: Mapped[str | None] = mapped_column(String(100))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))


class ReminderSent(Model):
    """A reminder already sent: one row per certificate or membership and threshold, so it goes out once."""

    __tablename__ = "reminder_sent"
    __table_args__ = (UniqueConstraint("subject_type", "subject_id", "threshold", name="uq_reminder_sent"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(20), nullable=False)  # certificate | membership
    subject_id: Mapped[int] = mapped_column(Integer, nullable=False)
    threshold: Mapped[str] = mapped_column(String(20), nullable=False)  # "90", "30", "7", "annual:2"
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"), nullable=False, index=True)
    sent_on: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)


class MessageTemplate(TimestampMixin, Model):
    """The text an enterprise receives for one event, edited by the association ({placeholders})."""

    __tablename__ = "message_template"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event: Mapped[str] = mapped_column(String(80), nullable=False, unique=True)
    description: Mapped[str] = mapped_column(String(200), nullable=False)
    subject: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)


# --- Indexes that serve the lists at scale (#10) ----------------------------------------------

# The states in which an application sits in a review queue's default (open) view: every open state
# of every workflow except the draft. The review queue repeats this exact predicate in its WHERE, so
# that SQLite (which matches a partial index's WHERE term by term) uses the partial index too.
QUEUE_OPEN_STATES = ("approved", "payment_returned", "payment_submitted", "received", "returned", "submitted")
QUEUE_OPEN_PREDICATE = "status IN ({})".format(", ".join(f"'{state}'" for state in QUEUE_OPEN_STATES))
QUEUE_WAITING_SINCE = func.coalesce(Application.submitted_on, Application.created_on)

# A queue's open applications in waiting order (status and enterprise last, so that a filter on the state
# or the enterprise reads them from the index, not the table).
Index(
    "ix_application_queue_open",
    Application.kind,
    QUEUE_WAITING_SINCE,
    Application.id,
    Application.status,
    Application.enterprise_id,
    sqlite_where=text(QUEUE_OPEN_PREDICATE),
    postgresql_where=text(QUEUE_OPEN_PREDICATE),
)
# Every state, or one state, in waiting order.
Index("ix_application_queue_all", Application.kind, QUEUE_WAITING_SINCE, Application.id, Application.enterprise_id)
# 审核总览: counts per (kind, status), and the long waits per kind.
Index("ix_application_kind_status_submitted", Application.kind, Application.status, Application.submitted_on)
# The enterprise's own staff list: current or archived, newest first.
Index(
    "ix_technical_staff_enterprise_archived_id",
    TechnicalStaff.enterprise_id,
    TechnicalStaff.archived,
    TechnicalStaff.id,
)
# "Contains" searches on PostgreSQL: trigram GIN indexes (pg_trgm); SQLite has no such index and scans.
for _name, _column in (
    ("ix_trgm_enterprise_name", Enterprise.name),
    ("ix_trgm_enterprise_credit_code", Enterprise.credit_code),
    ("ix_trgm_technical_staff_name", TechnicalStaff.name),
    ("ix_trgm_technical_staff_id_number", TechnicalStaff.id_number),
):
    Index(_name, _column, postgresql_using="gin", postgresql_ops={_column.key: "gin_trgm_ops"}).ddl_if(
        dialect="postgresql"
    )

"""Forms and field rules shared by the account pages (Flask-WTF: CSRF on every form)."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, NumberRange, Optional, ValidationError

from . import regions
from .identity import InvalidIdentity, normalize_credit_code
from .sms import SmsError, normalize_phone

LANDLINE_RE = re.compile(r"^0\d{2,3}-?\d{7,8}(-\d{1,6})?$")
PASSWORD_RE = re.compile(r"^[\x21-\x7e]{6,18}$")


def password_rule(form, field) -> None:
    """6–18 characters with both letters and digits (ASCII symbols allowed)."""
    value = field.data or ""
    if not PASSWORD_RE.match(value) or not re.search(r"[A-Za-z]", value) or not re.search(r"\d", value):
        raise ValidationError(_l("The password must be 6–18 characters and contain both letters and digits"))


def phone_rule(form, field) -> None:
    try:
        field.data = normalize_phone(field.data)
    except SmsError as error:
        raise ValidationError(error.message) from None


def landline_rule(form, field) -> None:
    value = re.sub(r"\s", "", field.data or "")
    if value and not LANDLINE_RE.match(value):
        raise ValidationError(_l("Please enter a landline number such as 0551-62818875"))
    field.data = value


def credit_code_rule(form, field) -> None:
    try:
        field.data = normalize_credit_code(field.data)
    except InvalidIdentity as error:
        raise ValidationError(error.message) from None


def sms_code_field(label=None):
    return StringField(
        label if label is not None else _l("Verification code"),
        validators=[
            DataRequired(_l("Please enter the verification code")),
            Length(6, 6, _l("Please enter the 6-digit verification code")),
        ],
    )


def phone_field(label=None):
    return StringField(
        label if label is not None else _l("Mobile phone"),
        validators=[DataRequired(_l("Please enter the mobile phone number")), phone_rule],
    )


def new_password_fields(label=None, confirm_label=None):
    password = PasswordField(
        label if label is not None else _l("Password"),
        validators=[DataRequired(_l("Please enter a password")), password_rule],
    )
    confirm = PasswordField(
        confirm_label if label is not None else _l("Confirm password"),
        validators=[
            DataRequired(_l("Please enter the password again")),
            EqualTo("password", _l("The two passwords do not match")),
        ],
    )
    return password, confirm


class PhoneStepForm(FlaskForm):
    phone = phone_field()
    code = sms_code_field()


class PasswordStepForm(FlaskForm):
    password, confirm = new_password_fields()


class EnterpriseStepForm(FlaskForm):
    contact_person = StringField(
        _l("Contact person"), validators=[DataRequired(_l("Please enter the contact person")), Length(max=50)]
    )
    name = StringField(
        _l("Enterprise name"),
        validators=[DataRequired(_l("Please enter the enterprise name")), Length(2, 200, _l("2–200 characters"))],
    )
    credit_code = StringField(
        _l("Unified social credit code"),
        validators=[DataRequired(_l("Please enter the unified social credit code")), credit_code_rule],
    )
    landline = StringField(
        _l("Enterprise landline"), validators=[DataRequired(_l("Please enter the landline")), landline_rule]
    )
    province = SelectField(_l("Province"), choices=[], validate_choice=False)
    city = SelectField(_l("City"), choices=[], validate_choice=False)
    district = SelectField(_l("District"), choices=[], validate_choice=False)

    def validate_district(self, field) -> None:
        resolved = regions.resolve(field.data or "")
        if (
            resolved is None
            or not field.data.startswith(self.city.data or "-")
            or not field.data.startswith(self.province.data or "-")
        ):
            raise ValidationError(_l("Please choose the province, city and district"))


class LoginForm(FlaskForm):
    user_kind = RadioField(
        _l("User type"),
        choices=[("enterprise", _l("Enterprise user")), ("association", _l("Association user"))],
        default="enterprise",
        validators=[DataRequired()],
    )
    username = StringField(_l("Account"), validators=[DataRequired(_l("Please enter your account"))])
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Please enter your password"))])


class LegacyLoginForm(FlaskForm):
    old_account = StringField(
        _l("Old system account"), validators=[DataRequired(_l("Please enter the old system account"))]
    )
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Please enter your password"))])


class ResetPasswordForm(FlaskForm):
    password, confirm = new_password_fields(_l("New password"), _l("Confirm new password"))


class ChangePasswordForm(FlaskForm):
    old_password = PasswordField(_l("Old password"), validators=[DataRequired(_l("Please enter the old password"))])
    password, confirm = new_password_fields(_l("New password"), _l("Confirm new password"))


class AccountInfoForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(_l("Please enter your name")), Length(max=64)])
    email = StringField(_l("E-mail"), validators=[Optional(), Length(max=320)])
    phone = phone_field()
    code = StringField(_l("Verification code"))
    action = HiddenField()


# --- Membership --------------------------------------------------------------------------------


class MembershipForm(FlaskForm):
    """入会申请表."""

    tier = SelectField(_l("Member tier"), coerce=int, validators=[DataRequired(_l("Please choose a member tier"))])
    legal_person = StringField(
        _l("Legal representative"),
        validators=[DataRequired(_l("Please enter the legal representative")), Length(max=50)],
    )
    registered_capital = DecimalField(
        _l("Registered capital (10k CNY)"),
        places=2,
        validators=[
            InputRequired(_l("Please enter the registered capital")),
            NumberRange(min=0, message=_l("Must not be negative")),
        ],
    )
    employees = IntegerField(
        _l("Number of employees"),
        validators=[
            InputRequired(_l("Please enter a whole number")),
            NumberRange(min=1, max=1_000_000, message=_l("Please enter a whole number")),
        ],
    )
    technical_staff = IntegerField(
        _l("Number of technical staff"),
        validators=[
            InputRequired(_l("Please enter a whole number")),
            NumberRange(min=0, max=1_000_000, message=_l("Please enter a whole number")),
        ],
    )
    main_business = StringField(
        _l("Main business"), validators=[DataRequired(_l("Please describe the main business")), Length(max=500)]
    )
    introduction = TextAreaField(_l("Enterprise introduction"), validators=[Optional(), Length(max=4000)])
    contact_person = StringField(
        _l("Contact person"), validators=[DataRequired(_l("Please enter the contact person")), Length(max=50)]
    )
    contact_phone = phone_field(_l("Contact mobile"))

    def validate_technical_staff(self, field) -> None:
        if field.data is not None and self.employees.data is not None and field.data > self.employees.data:
            raise ValidationError(_l("Technical staff cannot outnumber all employees"))


class DeliveryForm(FlaskForm):
    """证书发放方式 before 去缴费."""

    delivery_method = RadioField(
        _l("Certificate delivery"),
        choices=[("mail", _l("By mail")), ("pickup", _l("Collect in person"))],
        validators=[DataRequired(_l("Please choose how the certificate is delivered"))],
    )
    mail_recipient = StringField(_l("Recipient"), validators=[Optional(), Length(max=50)])
    mail_phone = StringField(_l("Recipient phone"), validators=[Optional(), Length(max=20)])
    mail_address = StringField(_l("Mailing address"), validators=[Optional(), Length(max=300)])

    def validate_delivery_method(self, field) -> None:
        # Checked on the required field: Optional() on the mail fields would skip a check placed there.
        if field.data != "mail":
            return
        if not all((f.data or "").strip() for f in (self.mail_recipient, self.mail_phone, self.mail_address)):
            raise ValidationError(_l("Please fill in the recipient, phone and address for delivery by mail"))
        try:
            self.mail_phone.data = normalize_phone(self.mail_phone.data)
        except SmsError as error:
            raise ValidationError(error.message) from None


class PaymentForm(FlaskForm):
    """去缴费: 上传转账截图 + 联系手机号 -> 立即提交."""

    screenshot = FileField(_l("Transfer screenshot"))
    payment_phone = phone_field(_l("Contact mobile number"))


class ReviewForm(FlaskForm):
    transition = HiddenField()
    version = HiddenField()
    comment = TextAreaField(_l("Comment"), validators=[Optional(), Length(max=2000)])


# --- Technical staff ---------------------------------------------------------------------------


class StaffForm(FlaskForm):
    """技术培训 -> 新增: the rules themselves live in app.staff.check_staff (shared with the 报名表)."""

    name = StringField(_l("Name"))
    gender = RadioField(_l("Gender"), choices=[("male", _l("Male")), ("female", _l("Female"))], validate_choice=False)
    id_number = StringField(_l("ID card number"))
    mobile = StringField(_l("Mobile phone"))
    education = SelectField(_l("Education"), choices=[], validate_choice=False)
    major = StringField(_l("Major"))
    title = SelectField(_l("Professional title"), choices=[], validate_choice=False)
    position = SelectField(_l("Position"), choices=[], validate_choice=False)
    insurance_months = StringField(_l("Months of social insurance with the enterprise"))
    photo = FileField(_l("Photo"))


class CertificateForm(FlaskForm):
    kind = StringField(
        _l("Certificate"), validators=[DataRequired(_l("Please enter the certificate name")), Length(max=60)]
    )
    number = StringField(
        _l("Certificate number"), validators=[DataRequired(_l("Please enter the certificate number")), Length(max=60)]
    )
    grade = StringField(_l("Grade"), validators=[Optional(), Length(max=30)])
    issued_on = DateField(_l("Issued on"), validators=[Optional()])
    expires_on = DateField(_l("Expires on"), validators=[Optional()])
    scan = FileField(_l("Scan"))

    def validate_expires_on(self, field) -> None:
        if field.data and self.issued_on.data and field.data < self.issued_on.data:
            raise ValidationError(_l("The expiry date is before the issue date"))


class UploadForm(FlaskForm):
    workbook = FileField(_l("报名表"))


# --- Qualification -----------------------------------------------------------------------------


class LevelForm(FlaskForm):
    """基本信息 → 下一步: the target level (choices from the eligibility of the application type)."""

    level = RadioField(_l("Target level"), coerce=int, validators=[InputRequired(_l("Please choose the level"))])


class ProofForm(FlaskForm):
    """上传技术人员资料 → 保存."""

    proof = FileField(_l("Staff documents"))


class ConditionsForm(FlaskForm):
    """The level's conditions the profile does not hold, entered on the 评审材料 page."""

    office_area = DecimalField(
        _l("Office area (㎡)"),
        places=2,
        validators=[Optional(), NumberRange(min=0, max=10_000_000, message=_l("Enter an area from 0 to 10,000,000"))],
    )
    iso9001 = BooleanField(_l("The enterprise holds an ISO 9001 quality management certificate"))


class ProjectForm(FlaskForm):
    """A completed project: 项目名称, 建设单位, 合同金额（万元）, 竣工验收日期, 验收证明."""

    name = StringField(
        _l("Project name"), validators=[DataRequired(_l("Please enter the project name")), Length(max=200)]
    )
    client = StringField(_l("Client"), validators=[DataRequired(_l("Please enter the client")), Length(max=200)])
    contract_value = DecimalField(
        _l("Contract value (10k CNY)"),
        places=2,
        validators=[
            InputRequired(_l("Please enter the contract value")),
            NumberRange(min=0.01, max=10_000_000, message=_l("Enter a value from 0.01 to 10,000,000")),
        ],
    )
    completed_on = DateField(_l("Acceptance date"), validators=[InputRequired(_l("Please enter the acceptance date"))])
    proof = FileField(_l("Acceptance proof"))

    def validate_completed_on(self, field) -> None:
        from .qualification import today

        if field.data and field.data > today():
            raise ValidationError(_l("The acceptance date cannot be in the future"))

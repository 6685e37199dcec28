"""Account pages: 注册, 老系统用户激活, 忘记密码 (public wizards) and 账户管理 (signed in)."""

from __future__ import annotations

from flask import current_app, flash, g, jsonify, make_response, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.utils.limit import Limit
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from werkzeug.security import check_password_hash

from .. import db, sms_guard, throttle
from ..accounts import (
    AccountError,
    EnterpriseData,
    WrongLegacyCredentials,
    activate_legacy_account,
    check_legacy_login,
    create_enterprise_account,
    current_wizard,
    discard_wizard,
    hash_password,
    phone_taken,
    set_password,
    start_wizard,
)
from ..forms import (
    AccountInfoForm,
    ChangePasswordForm,
    EnterpriseStepForm,
    LegacyLoginForm,
    PasswordStepForm,
    PhoneStepForm,
    ResetPasswordForm,
)
from ..models import PlatformUser
from ..sms import SmsError, check_code, normalize_phone, send_code


def post_limit(setting: str, default: str) -> list[Limit]:
    """POSTs per client address to one view, the rate read from config at request time."""
    return [Limit(lambda: current_app.config.get(setting, default), key_func=get_remote_address, methods=("POST",))]


# Public wizards (code requests are also capped per phone in app.sms).
WIZARD_LIMITS = post_limit("WIZARD_RATE_LIMIT", "30 per 10 minute")


def send_code_response(purpose: str, allowed=None, deliver=None):
    """JSON answer for a 获取验证码 button: {ok, message, wait} (+ captcha: true when asked for).

    Every refusal is JSON the page shows next to the button (never an HTML error page); `captcha`
    asks the page to show the picture captcha (app.sms_guard).
    """
    try:
        phone = normalize_phone(request.form.get("phone"))
        if allowed is not None:
            refusal = allowed(phone)
            if refusal:
                return jsonify(ok=False, message=refusal, wait=0), 400
        sms_guard.check_send()
        send_code(phone, purpose, deliver=deliver(phone) if deliver else True)
    except sms_guard.SendRefused as error:
        if error.captcha:
            return jsonify(ok=False, message=error.message, wait=0, captcha=True), 400
        return jsonify(ok=False, message=error.message, wait=0), 429
    except SmsError as error:
        return jsonify(ok=False, message=error.message, wait=error.retry_after or 0), 400
    sms_guard.record_send()
    return jsonify(ok=True, message=_("The verification code has been sent"), wait=60)


class CaptchaView(BaseView):
    """The picture captcha shown before 获取验证码 once an address has asked for a few codes."""

    route_base = "/captcha"
    default_view = "image"

    @expose("/")
    def image(self):
        response = make_response(sms_guard.new_captcha_png())
        response.headers["Content-Type"] = "image/png"
        response.headers["Cache-Control"] = "no-store"
        return response


class RegisterView(BaseView):
    """F1 注册: 手机号 + 验证码 -> 下一步 -> 密码 -> 下一步 -> 企业信息 -> 提交注册."""

    route_base = "/register"
    default_view = "phone"
    limits = WIZARD_LIMITS

    @expose("/", methods=["GET", "POST"])
    def phone(self):
        form = PhoneStepForm()
        if form.validate_on_submit():
            try:
                if phone_taken(form.phone.data):
                    raise AccountError(_("This mobile phone number is already registered; please sign in"))
                check_code(form.phone.data, "register", form.code.data)
            except (SmsError, AccountError) as error:
                form.code.errors.append(error.message)
            else:
                start_wizard("register", step=2, phone=form.phone.data)
                return redirect(url_for("RegisterView.password"))
        return self.render_template("accounts/register.html", step=1, form=form)

    @expose("/code", methods=["POST"])
    def code(self):
        def refuse_registered(phone):
            return _("This mobile phone number is already registered; please sign in") if phone_taken(phone) else None

        return send_code_response("register", refuse_registered)

    @expose("/password", methods=["GET", "POST"])
    def password(self):
        draft = current_wizard("register", at_least_step=2)
        if draft is None:
            flash(_("Please verify your mobile phone number first"), "warning")
            return redirect(url_for("RegisterView.phone"))
        form = PasswordStepForm()
        if form.validate_on_submit():
            draft.password_hash = hash_password(form.password.data)
            draft.step = 3
            db.session.commit()
            return redirect(url_for("RegisterView.enterprise"))
        return self.render_template("accounts/register.html", step=2, form=form, phone=draft.phone)

    @expose("/enterprise", methods=["GET", "POST"])
    def enterprise(self):
        draft = current_wizard("register", at_least_step=3)
        if draft is None:
            flash(_("Please verify your mobile phone number first"), "warning")
            return redirect(url_for("RegisterView.phone"))
        form = EnterpriseStepForm()
        if form.validate_on_submit():
            data = EnterpriseData(
                name=form.name.data.strip(),
                credit_code=form.credit_code.data,
                region_code=form.district.data,
                contact_person=form.contact_person.data.strip(),
                landline=form.landline.data,
            )
            try:
                create_enterprise_account(draft.phone, draft.password_hash, data)
            except AccountError as error:
                flash(error.message, "danger")
            else:
                discard_wizard("register")
                flash(_("Registration succeeded. Please sign in with your mobile phone number."), "success")
                return redirect(self.appbuilder.get_url_for_login)
        return self.render_template("accounts/register.html", step=3, form=form, phone=draft.phone)


class ActivationView(BaseView):
    """F3 老系统用户激活: 老系统账号 + 密码 -> 下一步 -> 手机号 + 验证码 -> 激活."""

    route_base = "/activate"
    default_view = "legacy_login"

    @expose("/", methods=["GET", "POST"])
    def legacy_login(self):
        form = LegacyLoginForm()
        if form.validate_on_submit():
            # Failed guesses count per old account (delay, then lock) and per address; successes do not.
            throttle.check_address("activate")
            old_account = form.old_account.data.strip()
            refused = throttle.refusal("activate", old_account)
            try:
                if refused is not None:
                    throttle.record_refused("activate")
                    raise AccountError(throttle.refusal_message("activate", refused))
                account = check_legacy_login(old_account, form.password.data)
            except WrongLegacyCredentials as error:
                throttle.record_failure("activate", old_account)
                flash(error.message, "danger")
            except AccountError as error:
                flash(error.message, "danger")
            else:
                throttle.record_success("activate", old_account)
                # The old password becomes the new one, hashed with the current scheme.
                start_wizard(
                    "activate", step=2, legacy_account_id=account.id, password_hash=hash_password(form.password.data)
                )
                return redirect(url_for("ActivationView.phone"))
        return self.render_template("accounts/activate.html", step=1, form=form)

    @expose("/code", methods=["POST"])
    def code(self):
        if current_wizard("activate", at_least_step=2) is None:
            return jsonify(ok=False, message=_("Please sign in with the old system account first"), wait=0), 400

        def refuse_registered(phone):
            return (
                _("This mobile phone number is already registered; please use another one")
                if phone_taken(phone)
                else None
            )

        return send_code_response("activate", refuse_registered)

    @expose("/phone", methods=["GET", "POST"])
    def phone(self):
        draft = current_wizard("activate", at_least_step=2)
        if draft is None:
            flash(_("Please sign in with the old system account first"), "warning")
            return redirect(url_for("ActivationView.legacy_login"))
        form = PhoneStepForm()
        if form.validate_on_submit():
            try:
                if phone_taken(form.phone.data):
                    raise AccountError(_("This mobile phone number is already registered; please use another one"))
                check_code(form.phone.data, "activate", form.code.data)
                activate_legacy_account(draft.legacy_account_id, form.phone.data, draft.password_hash)
            except (SmsError, AccountError) as error:
                form.code.errors.append(error.message)
            else:
                discard_wizard("activate")
                flash(_("Activation succeeded. Sign in with the mobile phone number and your old password."), "success")
                return redirect(self.appbuilder.get_url_for_login)
        return self.render_template("accounts/activate.html", step=2, form=form)


class PasswordResetView(BaseView):
    """忘记密码: 手机号 + 验证码 -> 下一步 -> 新密码 -> 保存."""

    route_base = "/forgot-password"
    default_view = "phone"
    limits = WIZARD_LIMITS

    @expose("/", methods=["GET", "POST"])
    def phone(self):
        form = PhoneStepForm()
        if form.validate_on_submit():
            user = db.session.query(PlatformUser).filter(PlatformUser.phone == form.phone.data).one_or_none()
            try:
                # An unknown phone never got a code, so it fails exactly like a wrong code.
                check_code(form.phone.data, "reset_password", form.code.data)
            except SmsError as error:
                form.code.errors.append(error.message)
            else:
                if user is not None:
                    start_wizard("reset", step=2, user_id=user.id)
                    return redirect(url_for("PasswordResetView.new_password"))
                form.code.errors.append(_("The verification code is wrong"))
        return self.render_template("accounts/forgot_password.html", step=1, form=form)

    @expose("/code", methods=["POST"])
    def code(self):
        def known(phone):
            return db.session.query(PlatformUser.id).filter(PlatformUser.phone == phone).first() is not None

        # An unknown phone goes through the same limits and gets the same answers, but no message:
        # the page must not tell who has an account.
        return send_code_response("reset_password", deliver=known)

    @expose("/new", methods=["GET", "POST"])
    def new_password(self):
        draft = current_wizard("reset", at_least_step=2)
        if draft is None:
            flash(_("Please verify your mobile phone number first"), "warning")
            return redirect(url_for("PasswordResetView.phone"))
        form = ResetPasswordForm()
        if form.validate_on_submit():
            user = db.session.get(PlatformUser, draft.user_id)
            set_password(user, form.password.data)
            # The owner proved control of the phone: a sign-in lock on the account ends here.
            throttle.unlock("login", user.username)
            discard_wizard("reset")
            flash(_("Your password has been reset. Please sign in."), "success")
            return redirect(self.appbuilder.get_url_for_login)
        return self.render_template("accounts/forgot_password.html", step=2, form=form)


class AccountView(BaseView):
    """F13 账户管理: 修改信息 -> 修改保存 (new phone needs its code), 修改密码 -> 保存."""

    route_base = "/account"
    class_permission_name = "Account"
    default_view = "info"
    limits = post_limit("ACCOUNT_RATE_LIMIT", "30 per 10 minute")

    @expose("/info", methods=["GET", "POST"])
    @has_access
    def info(self):
        user = db.session.get(PlatformUser, g.user.id)
        form = AccountInfoForm()
        if request.method == "GET":
            form.email.data = user.email or ""
            form.name.data = user.get_full_name()
            form.phone.data = user.phone or ""
        if form.validate_on_submit():
            new_phone = form.phone.data
            email = (form.email.data or "").strip() or None
            try:
                if (
                    email
                    and db.session.query(PlatformUser.id)
                    .filter(PlatformUser.email == email, PlatformUser.id != user.id)
                    .first()
                ):
                    raise AccountError(_("This e-mail address is used by another account"))
                if new_phone != user.phone:
                    if phone_taken(new_phone, except_user_id=user.id):
                        raise AccountError(_("This mobile phone number is already registered; please use another one"))
                    check_code(new_phone, "change_phone", form.code.data)
                    if user.enterprise_id is not None:
                        user.username = new_phone  # an enterprise account signs in with its phone
                    user.phone = new_phone
            except (SmsError, AccountError) as error:
                form.code.errors.append(error.message)
            else:
                user.first_name, user.last_name = form.name.data.strip(), ""
                user.email = email
                db.session.commit()
                flash(_("Your information has been saved"), "success")
                return redirect(url_for("AccountView.info"))
        return self.render_template("accounts/info.html", form=form, user=user)

    @expose("/code", methods=["POST"])
    @has_access
    def code(self):
        def refuse(phone):
            if phone == g.user.phone:
                return _("This is already your mobile phone number")
            if phone_taken(phone, except_user_id=g.user.id):
                return _("This mobile phone number is already registered; please use another one")
            return None

        return send_code_response("change_phone", refuse)

    @expose("/password", methods=["GET", "POST"])
    @has_access
    def password(self):
        form = ChangePasswordForm()
        if form.validate_on_submit():
            user = db.session.get(PlatformUser, g.user.id)
            if not check_password_hash(user.password or "", form.old_password.data):
                form.old_password.errors.append(_("The old password is wrong"))
            elif form.old_password.data == form.password.data:
                form.password.errors.append(_("The new password must differ from the old one"))
            else:
                set_password(user, form.password.data)
                flash(_("Your password has been changed; other signed-in sessions have been signed out"), "success")
                return redirect(url_for("AccountView.password"))
        return self.render_template("accounts/password.html", form=form)

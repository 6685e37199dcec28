"""SMS flood protection for 获取验证码: a picture captcha once an address has asked for a few codes,
a daily budget per client address, and a platform-wide hourly budget (setting `sms.hourly_budget`).

Counters live in the shared limit storage (Redis in production). The captcha's answer never
leaves the server in clear: the session holds an HMAC of it, and each captcha id can be used once
(a copied cookie cannot replay a solved captcha).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import secrets

from flask import current_app, request, session
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from limits.storage import Storage

from .exceptions import UserError

CAPTCHA_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
CAPTCHA_LENGTH = 4
CAPTCHA_SECONDS = 600
DEFAULTS = {
    # Codes an address may ask for within an hour before the captcha is shown.
    "SMS_CAPTCHA_AFTER": 3,
    # Codes an address may ask for in 24 hours (a training room of clerks stays well below it).
    "SMS_ADDRESS_DAILY_LIMIT": 30,
}
BUDGET_ALERT_SECONDS = 24 * 3600


class SendRefused(UserError):
    """A code that will not be sent (budgets, captcha); `captcha` asks the page to show one."""

    status = 429

    def __init__(self, message: str, captcha: bool = False) -> None:
        super().__init__(message)
        self.captcha = captcha


def _setting(name: str) -> int:
    return int(current_app.config.get(name, DEFAULTS[name]))


def _storage() -> Storage:
    return current_app.appbuilder.sm.limiter.storage


def _key(*parts: str) -> str:
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX", "") or ""
    return ":".join([prefix, "sms", *parts])


def _mac(captcha_id: str, text: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"captcha|{captcha_id}|{text.upper()}".encode(), hashlib.sha256).hexdigest()


def new_captcha_text() -> str:
    return "".join(secrets.choice(CAPTCHA_ALPHABET) for _ in range(CAPTCHA_LENGTH))


def new_captcha_png() -> bytes:
    """A fresh captcha for this session; the font ships inside the `captcha` package."""
    from captcha.image import ImageCaptcha

    text = new_captcha_text()
    captcha_id = secrets.token_urlsafe(12)
    session["sms_captcha"] = {"id": captcha_id, "mac": _mac(captcha_id, text)}
    image = ImageCaptcha(width=128, height=48).generate_image(text)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _captcha_passed(answer: str) -> bool:
    held = session.pop("sms_captcha", None)
    if not isinstance(held, dict) or not answer:
        return False
    # One use per captcha id, whichever cookie presents it.
    if _storage().incr(_key("captcha-used", str(held.get("id"))), CAPTCHA_SECONDS) != 1:
        return False
    return hmac.compare_digest(str(held.get("mac", "")), _mac(str(held.get("id")), answer.strip()))


def captcha_required() -> bool:
    return _storage().get(_key("address-hour", get_remote_address())) >= _setting("SMS_CAPTCHA_AFTER")


def check_send() -> None:
    """Before a code is sent: the address's daily budget, then the captcha when it is due."""
    address = get_remote_address()
    if _storage().get(_key("address-day", address)) >= _setting("SMS_ADDRESS_DAILY_LIMIT"):
        raise SendRefused(
            _("Too many verification codes were requested from your network today; please try again tomorrow")
        )
    if captcha_required():
        answer = (request.form.get("captcha") or "").strip()
        if not answer:
            raise SendRefused(_("Please enter the characters shown in the picture"), captcha=True)
        if not _captcha_passed(answer):
            raise SendRefused(_("The characters in the picture were wrong; please try the new picture"), captcha=True)


def record_send() -> None:
    address = get_remote_address()
    storage = _storage()
    storage.incr(_key("address-hour", address), 3600)
    storage.incr(_key("address-day", address), 24 * 3600)


def _hour_bucket() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d%H")


def take_platform_budget() -> bool:
    """Count one code against this hour's platform budget; False (and the 工作台 alert) once it is spent."""
    from .settings import get_int

    used = _storage().incr(_key("platform", _hour_bucket()), 2 * 3600)
    if used <= get_int("sms.hourly_budget"):
        return True
    _storage().incr(_key("budget-exceeded"), BUDGET_ALERT_SECONDS)
    return False


def budget_alert() -> bool:
    """The platform budget was crossed within the last day (shown to AssociationAdmin on 工作台)."""
    return bool(_storage().get(_key("budget-exceeded")))

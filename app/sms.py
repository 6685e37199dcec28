"""SMS verification codes (hashed, single use, per purpose, rate limited) and pluggable gateways."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import re
import secrets
import urllib.error
import urllib.request
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from . import db
from .exceptions import UserError
from .models import SmsCode, utcnow

log = logging.getLogger(__name__)

PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
PURPOSES = {
    "register": _l("registration"),
    "activate": _l("legacy account activation"),
    "reset_password": _l("password reset"),
    "change_phone": _l("changing the phone number"),
}
DEFAULTS = {
    "SMS_CODE_TTL_SECONDS": 300,
    "SMS_RESEND_SECONDS": 60,
    "SMS_DAILY_LIMIT": 10,
    "SMS_MAX_ATTEMPTS": 5,
}


class SmsError(UserError):
    """A code request or check we refuse, with the Chinese message for the user."""

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SmsSendError(RuntimeError):
    """The gateway did not accept the message."""


class SmsGateway(Protocol):
    def send(self, to: str, text: str, purpose: str, code: str) -> None: ...


class FileGateway:
    """Development gateway: one JSON object per line in instance/sms-outbox.jsonl."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def send(self, to: str, text: str, purpose: str, code: str) -> None:
        record = {"to": to, "text": text, "purpose": purpose, "code": code, "at": utcnow().isoformat() + "Z"}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as outbox:
            outbox.write(json.dumps(record, ensure_ascii=False) + "\n")


class HttpGateway:
    """A provider's HTTP API: POST JSON {to, text, sign} with a bearer token; 2xx means accepted.

    Providers differ in field names; this adapter covers the common JSON-over-HTTPS shape and is
    the place to adapt for a specific provider.
    """

    def __init__(self, url: str, token: str, sign: str = "", timeout: float = 5.0) -> None:
        self.url, self.token, self.sign, self.timeout = url, token, sign, timeout

    def send(self, to: str, text: str, purpose: str, code: str) -> None:
        body = json.dumps({"to": to, "text": text, "sign": self.sign}, ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json; charset=utf-8", "Authorization": f"Bearer {self.token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (configured URL)
                payload = response.read(65536)
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            raise SmsSendError(f"SMS gateway unreachable: {error}") from error
        try:
            result = json.loads(payload or b"{}")
        except ValueError:
            result = {}
        if isinstance(result, dict) and result.get("ok") is False:
            raise SmsSendError(f"SMS gateway refused the message: {result.get('error')}")


def gateway() -> SmsGateway:
    config = current_app.config
    backend = config.get("SMS_BACKEND", "file")
    if backend == "file":
        return FileGateway(config.get("SMS_OUTBOX") or Path(current_app.instance_path) / "sms-outbox.jsonl")
    if backend == "http":
        return HttpGateway(config["SMS_HTTP_URL"], config["SMS_HTTP_TOKEN"], config.get("SMS_SIGN", ""))
    raise RuntimeError(f"unknown SMS_BACKEND {backend!r}")


def _setting(name: str) -> int:
    return int(current_app.config.get(name, DEFAULTS[name]))


def _hash(phone: str, purpose: str, code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{phone}|{purpose}|{code}".encode(), hashlib.sha256).hexdigest()


def normalize_phone(value: str | None) -> str:
    phone = re.sub(r"[\s-]", "", value or "")
    if phone.startswith("+86"):
        phone = phone[3:]
    if not PHONE_RE.match(phone):
        raise SmsError(_("Please enter a valid 11-digit mobile phone number"))
    return phone


def _start_of_local_day() -> dt.datetime:
    zone = ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai"))
    local_midnight = dt.datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    return local_midnight.astimezone(dt.UTC).replace(tzinfo=None)


def send_code(phone: str, purpose: str, deliver: bool = True) -> SmsCode:
    """Create and send a code. Refuses within the resend interval and beyond the daily cap.

    On a gateway failure nothing is kept (the user may simply try again) and SmsError is raised.
    With deliver=False the code is recorded (so cooldown and daily cap answer exactly as for a real
    one) but never sent: for phones the page must not reveal as unknown.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"unknown SMS purpose {purpose}")
    phone = normalize_phone(phone)
    now = utcnow()
    last = db.session.scalar(select(func.max(SmsCode.created_on)).where(SmsCode.phone == phone))
    wait = _setting("SMS_RESEND_SECONDS") - int((now - last).total_seconds()) if last else 0
    if wait > 0:
        raise SmsError(_("Please wait %(s)s seconds before requesting another code", s=wait), retry_after=wait)
    today = db.session.scalar(
        select(func.count())
        .select_from(SmsCode)
        .where(SmsCode.phone == phone, SmsCode.created_on >= _start_of_local_day())
    )
    if today >= _setting("SMS_DAILY_LIMIT"):
        raise SmsError(_("This phone number has received too many codes today; please try again tomorrow"))
    from .sms_guard import take_platform_budget

    if not take_platform_budget():
        raise SmsError(_("The platform has sent too many text messages this hour; please try again later"))

    code = f"{secrets.randbelow(1_000_000):06d}"
    minutes = _setting("SMS_CODE_TTL_SECONDS") // 60
    text = _(
        "[%(app)s] Your verification code for %(purpose)s is %(code)s, valid for %(minutes)s minutes. "
        "If you did not ask for it, please ignore this message.",
        app=current_app.config.get("APP_NAME", ""),
        purpose=PURPOSES[purpose],
        code=code,
        minutes=minutes,
    )
    record = SmsCode(
        phone=phone,
        purpose=purpose,
        code_hash=_hash(phone, purpose, code),
        created_on=now,
        expires_on=now + dt.timedelta(seconds=_setting("SMS_CODE_TTL_SECONDS")),
    )
    db.session.add(record)
    db.session.flush()
    if not deliver:
        db.session.commit()
        return record
    try:
        gateway().send(phone, text, purpose, code)
    except SmsSendError:
        log.exception("sending a %s code to %s failed", purpose, phone[:3] + "****" + phone[-4:])
        db.session.rollback()
        raise SmsError(_("The text message could not be sent. Please try again later.")) from None
    db.session.commit()
    return record


def check_code(phone: str, purpose: str, code: str | None) -> None:
    """Accept the latest unused, unexpired code for this phone and purpose exactly once.

    Raises SmsError otherwise; a wrong code counts as a try and too many tries void the code.
    Failures also count per phone across codes and per client address (app.throttle).
    """
    from . import throttle

    phone = normalize_phone(phone)
    code = (code or "").strip()
    if not re.fullmatch(r"\d{6}", code):
        raise SmsError(_("Please enter the 6-digit verification code"))
    if throttle.address_exhausted("sms"):
        raise SmsError(_("Too many attempts. Please wait a few minutes and try again."))
    refused = throttle.refusal("sms", phone)
    if refused is not None:
        throttle.record_refused("sms")
        raise SmsError(throttle.refusal_message("sms", refused), retry_after=refused.wait)
    try:
        _accept_code(phone, purpose, code)
    except SmsError:
        throttle.record_failure("sms", phone)
        raise
    throttle.record_success("sms", phone)


def _accept_code(phone: str, purpose: str, code: str) -> None:
    record = db.session.scalar(
        select(SmsCode)
        .where(SmsCode.phone == phone, SmsCode.purpose == purpose, SmsCode.consumed_on.is_(None))
        .order_by(SmsCode.created_on.desc(), SmsCode.id.desc())
        .limit(1)
    )
    if record is None or record.expires_on <= utcnow():
        raise SmsError(_("The verification code has expired or was not requested; please get a new one"))
    # Count the try before comparing, atomically: parallel guesses cannot exceed the limit.
    counted = db.session.execute(
        update(SmsCode)
        .where(SmsCode.id == record.id, SmsCode.consumed_on.is_(None), SmsCode.attempts < _setting("SMS_MAX_ATTEMPTS"))
        .values(attempts=SmsCode.attempts + 1)
    )
    db.session.commit()
    if counted.rowcount != 1:
        raise SmsError(_("Too many wrong codes; please get a new verification code"))
    if not hmac.compare_digest(record.code_hash, _hash(phone, purpose, code)):
        raise SmsError(_("The verification code is wrong"))
    consumed = db.session.execute(
        update(SmsCode).where(SmsCode.id == record.id, SmsCode.consumed_on.is_(None)).values(consumed_on=utcnow())
    )
    if consumed.rowcount != 1:  # used by a concurrent request a moment ago
        db.session.rollback()
        raise SmsError(_("The verification code has expired or was not requested; please get a new one"))
    db.session.commit()


def purge_expired(older_than: dt.timedelta = dt.timedelta(days=2)) -> int:
    """Delete codes that expired long enough ago to no longer matter for the daily cap."""
    result = db.session.execute(SmsCode.__table__.delete().where(SmsCode.expires_on < utcnow() - older_than))
    db.session.commit()
    return result.rowcount

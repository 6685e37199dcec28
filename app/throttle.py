"""Failed-attempt limits for sign-in, legacy activation and SMS-code checks.

Only failures count, never successes, so an office or a training room signing in many people
from one address is not locked out. Two counters:

- per account (the name typed in, whether it exists or not): after a few failures each further
  try waits a growing delay, and after `THROTTLE_LOCK_AFTER` failures within the window the
  account is locked; a password reset by SMS lifts the lock (the lock also ends by itself after
  `THROTTLE_LOCK_SECONDS`).
- per client address, at a much higher ceiling (`AUTH_RATE_LIMIT` for sign-in,
  `ACTIVATION_RATE_LIMIT`, `SMS_CHECK_RATE_LIMIT`): beyond it the address gets 429.

The counters live in the rate limiter's storage (`RATELIMIT_STORAGE_URI`), shared by every worker
when that is Redis; the production configuration refuses in-memory storage (see `check_storage`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from flask import Flask, abort, current_app, has_request_context
from flask_limiter.util import get_remote_address
from limits import parse
from limits.storage import Storage
from limits.strategies import FixedWindowRateLimiter

DEFAULTS = {
    "THROTTLE_WINDOW_SECONDS": 15 * 60,
    # Delay imposed after the n-th failure of an account within the window (n = 1, 2, …).
    "THROTTLE_DELAYS": (0, 0, 5, 30),
    "THROTTLE_LOCK_AFTER": 5,
    "THROTTLE_LOCK_SECONDS": 24 * 3600,
    # SMS codes and legacy activation have no SMS reset to lift a lock: theirs ends sooner.
    "THROTTLE_OTHER_LOCK_SECONDS": 3600,
    # A code already allows 5 tries (app.sms): across codes, a phone's checks lock after two codes'
    # worth of wrong tries, with no delay in between.
    "THROTTLE_DELAYS_SMS": (),
    "THROTTLE_LOCK_AFTER_SMS": 10,
}


class ProductionConfigError(RuntimeError):
    """A configuration that must not run with several workers."""


def check_storage(app: Flask) -> None:
    """Several gunicorn workers each counting in their own memory would multiply every limit."""
    uri = str(app.config.get("RATELIMIT_STORAGE_URI") or "memory://")
    if app.config.get("APP_ENV") == "production" and uri.startswith("memory://"):
        raise ProductionConfigError(
            "RATELIMIT_STORAGE_URI is memory:// in production: every worker would count sign-in "
            "failures and SMS sends on its own. Set RATELIMIT_STORAGE_URI=redis://127.0.0.1:6379/0 "
            "(or another shared store) before starting."
        )


@dataclass
class Refusal:
    """Why an attempt is refused before it is checked: a wait (seconds) or a lock."""

    locked: bool
    wait: int


def _setting(name: str, kind: str | None = None):
    """A setting, possibly specialised for one kind of check (`THROTTLE_DELAYS_SMS`)."""
    if kind is not None:
        special = f"{name}_{kind.upper()}"
        if special in current_app.config or special in DEFAULTS:
            return current_app.config.get(special, DEFAULTS.get(special))
    return current_app.config.get(name, DEFAULTS[name])


def _storage() -> Storage:
    return current_app.appbuilder.sm.limiter.storage


def _key(*parts: str) -> str:
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX", "") or ""
    return ":".join([prefix, "throttle", *parts])


# Failures per client address, for each kind of check: (config name, default).
ADDRESS_LIMITS = {
    "login": ("AUTH_RATE_LIMIT", "100 per 15 minute"),
    "activate": ("ACTIVATION_RATE_LIMIT", "30 per 15 minute"),
    "sms": ("SMS_CHECK_RATE_LIMIT", "60 per 15 minute"),
}


def _address_limit(kind: str):
    setting, default = ADDRESS_LIMITS[kind]
    return parse(current_app.config.get(setting) or default)


def _account(kind: str, account: str) -> str:
    return (account or "").strip().lower()[:128]


def _address() -> str | None:
    """The client address, or None outside a request (a CLI or job checking a code)."""
    return get_remote_address() if has_request_context() else None


def address_exhausted(kind: str) -> bool:
    """This client address has failed this kind of check too often."""
    address = _address()
    if address is None:
        return False
    return not FixedWindowRateLimiter(_storage()).test(_address_limit(kind), _key(kind, "address"), address)


def check_address(kind: str) -> None:
    """Abort with 429 once this client address has failed this kind of check too often."""
    if address_exhausted(kind):
        abort(429)


def record_refused(kind: str) -> None:
    """An attempt refused for its account's delay or lock still counts against the address."""
    address = _address()
    if address is not None:
        FixedWindowRateLimiter(_storage()).hit(_address_limit(kind), _key(kind, "address"), address)


def refusal(kind: str, account: str) -> Refusal | None:
    """A lock or a pending delay for this account, or None when it may try now."""
    storage, name = _storage(), _account(kind, account)
    if storage.get(_key(kind, "lock", name)):
        return Refusal(locked=True, wait=max(int(storage.get_expiry(_key(kind, "lock", name)) - time.time()), 1))
    if storage.get(_key(kind, "delay", name)):
        return Refusal(locked=False, wait=max(int(storage.get_expiry(_key(kind, "delay", name)) - time.time()) + 1, 1))
    return None


def record_failure(kind: str, account: str) -> None:
    storage, name = _storage(), _account(kind, account)
    record_refused(kind)
    failures = storage.incr(_key(kind, "failures", name), int(_setting("THROTTLE_WINDOW_SECONDS")))
    if failures >= int(_setting("THROTTLE_LOCK_AFTER", kind)):
        seconds = _setting("THROTTLE_LOCK_SECONDS") if kind == "login" else _setting("THROTTLE_OTHER_LOCK_SECONDS")
        storage.incr(_key(kind, "lock", name), int(seconds))
        return
    delays = tuple(_setting("THROTTLE_DELAYS", kind))
    delay = delays[min(failures, len(delays)) - 1] if delays else 0
    if delay > 0:
        storage.clear(_key(kind, "delay", name))
        storage.incr(_key(kind, "delay", name), int(delay))


def record_success(kind: str, account: str) -> None:
    """A success forgets the account's failures (never counted against the address either)."""
    storage, name = _storage(), _account(kind, account)
    storage.clear(_key(kind, "failures", name))
    storage.clear(_key(kind, "delay", name))


def unlock(kind: str, account: str) -> None:
    """The owner proved control of the account (password reset by SMS): lift lock and delays."""
    record_success(kind, account)
    _storage().clear(_key(kind, "lock", _account(kind, account)))


def refusal_message(kind: str, refused: Refusal) -> str:
    from flask_babel import gettext as _

    if refused.locked and kind == "login":
        return _(
            "This account is locked after too many failed attempts. "
            "Reset the password with an SMS code (Forgot password) to unlock it."
        )
    if refused.locked:
        return _("Too many failed attempts; please try again in %(m)s minutes.", m=max(refused.wait // 60, 1))
    return _("Too many failed attempts; please wait %(s)s seconds and try again.", s=refused.wait)

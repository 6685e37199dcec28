"""Checks of Chinese identity numbers: 统一社会信用代码 (GB 32100) and 身份证号 (GB 11643)."""

from __future__ import annotations

import datetime as dt

from flask_babel import gettext as _
from stdnum.cn import ric, uscc

from . import clock, regions
from .exceptions import UserError


class InvalidIdentity(UserError):
    """An identity number we refuse, with a Chinese message that says which part is wrong."""


def normalize_credit_code(value: str | None) -> str:
    """Return the 18-character upper-case credit code or raise InvalidIdentity saying what is wrong."""
    number = uscc.compact(value or "")
    if not number:
        raise InvalidIdentity(_("Please enter the unified social credit code"))
    if len(number) != 18:
        raise InvalidIdentity(_("The unified social credit code has 18 characters; this one has %(n)s", n=len(number)))
    if not number[:8].isdigit():
        raise InvalidIdentity(
            _(
                "Characters 1–8 of the unified social credit code (registration department, organisation type and region code) must be digits"
            )
        )
    bad = [ch for ch in number[8:] if ch not in uscc._alphabet]
    if bad:
        raise InvalidIdentity(
            _(
                "The unified social credit code contains the invalid character “%(ch)s” (I, O, Z, S and V are never used)",
                ch=bad[0],
            )
        )
    if uscc.calc_check_digit(number) != number[-1]:
        raise InvalidIdentity(
            _("The check character (18th) of the unified social credit code is wrong; please check the code")
        )
    return number


def normalize_id_number(value: str | None) -> str:
    """Return the 18-character 身份证号 (X upper-case) or raise InvalidIdentity.

    Checks length, characters, the ISO 7064 check character, a real past birth date, and that the
    region code existed at some time. Unlike ric.validate it does not refuse a region code that
    was created after the birth date: the code is the one of household registration when the
    number was issued, often years after birth.
    """
    number = ric.compact(value or "").upper()
    if not number:
        raise InvalidIdentity(_("Please enter the ID card number"))
    if len(number) != 18:
        raise InvalidIdentity(_("The ID card number has 18 characters; this one has %(n)s", n=len(number)))
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise InvalidIdentity(
            _("The first 17 characters of an ID card number are digits and the last one is a digit or X")
        )
    if ric.calc_check_digit(number) != number[17]:
        raise InvalidIdentity(_("The check character (18th) of the ID card number is wrong; please check the number"))
    try:
        birth = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidIdentity(_("The birth date in the ID card number is not valid")) from None
    if birth > clock.today() or birth.year < 1900:
        raise InvalidIdentity(_("The birth date in the ID card number is not valid"))
    if not regions.code_existed(number[:6]):
        raise InvalidIdentity(_("The region code (first 6 digits) of the ID card number does not exist"))
    return number


def birth_date_of(id_number: str) -> dt.date:
    return dt.date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))


def gender_of(id_number: str) -> str:
    """'male' or 'female' from the 17th digit (odd: male)."""
    return "male" if int(id_number[16]) % 2 else "female"

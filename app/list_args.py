"""Malformed list parameters are dropped before any view reads them, so a list never answers 500.

Flask-AppBuilder turns `page_<View>`, `psize_<View>`, `_oc_<View>`/`_od_<View>` and `_flt_<n>_<col>`
straight into `int()`, ORDER BY labels, filter indexes and SQL parameters; our own lists read
`page`, `from` and `to`. A value that does not fit (not a number, 20 digits, an unknown column, a
filter index the column does not have, a date outside the calendar we can add a day to) is removed
from `request.args` here, once for every view: the page shows the list as if it had not been given.
"""

from __future__ import annotations

import datetime as dt
import math
import re

from flask import Flask, current_app, request
from werkzeug.datastructures import ImmutableMultiDict, MultiDict

MAX_PAGE = 10**6
MAX_PAGE_SIZE = 100
DATE_ARGS = ("from", "to")
_FILTER_RE = re.compile(r"^_flt_(\d)_(.+)$")
_BIGINT = 2**63 - 1


def _whole(value: str, low: int, high: int) -> bool:
    return value.isascii() and value.isdigit() and len(value) <= 19 and low <= int(value) <= high


def _plausible_date(value: str) -> bool:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return False
    return 1900 <= day.year <= 2999


def _views_by_name() -> dict:
    cache = current_app.extensions.setdefault("list_args_views", {})
    if not cache:
        for view in current_app.appbuilder.baseviews:
            cache[view.__class__.__name__] = view
    return cache


def _filter_value_fits(view, column: str, values: list[str]) -> bool:
    datamodel = getattr(view, "datamodel", None)
    if datamodel is None:
        return False
    for value in values:
        if datamodel.is_relation(column) or datamodel.is_integer(column):
            if not (value.lstrip("-").isdigit() and abs(int(value)) <= _BIGINT):
                return False
        elif datamodel.is_float(column) or datamodel.is_numeric(column):
            try:
                number = float(value)
            except ValueError:
                return False
            if not math.isfinite(number) or abs(number) > 1e15:
                return False
        elif datamodel.is_date(column) or datamodel.is_datetime(column):
            if not _plausible_date(value[:10]):
                return False
    return True


def _filter_fits(view, column: str, index: int, values: list[str]) -> bool:
    filters = getattr(view, "_filters", None)
    if view is None or filters is None:
        return False
    allowed = filters.get_search_filters().get(column)
    if not allowed or index >= len(allowed):
        return False
    return _filter_value_fits(view, column, values)


def _keep(key: str, values: list[str], view, views: dict) -> bool:
    if key == "page" or key.startswith("page_"):
        return all(_whole(v, 1, MAX_PAGE) for v in values)
    if key.startswith("psize_"):
        return all(_whole(v, 1, MAX_PAGE_SIZE) for v in values)
    if key.startswith("_od_"):
        return all(v in ("asc", "desc") for v in values)
    if key.startswith("_oc_"):
        owner = views.get(key[len("_oc_") :])
        columns = getattr(owner, "order_columns", None) or []
        return all(v in columns for v in values)
    if key in DATE_ARGS:
        return all(v == "" or _plausible_date(v) for v in values)
    match = _FILTER_RE.match(key)
    if match:
        return _filter_fits(view, match.group(2), int(match.group(1)), values)
    return True


def _is_list_arg(key: str) -> bool:
    return key in ("page", *DATE_ARGS) or key.startswith(("page_", "psize_", "_oc_", "_od_", "_flt_"))


def sanitize_list_args() -> None:
    if not any(_is_list_arg(key) for key in request.args):
        return
    views = _views_by_name()
    view = views.get((request.endpoint or "").split(".")[0])
    clean = MultiDict()
    for key, values in request.args.lists():
        if not _is_list_arg(key) or _keep(key, values, view, views):
            clean.setlist(key, values)
    # An ordering whose column was dropped loses its direction too.
    for key in list(clean.keys()):
        if key.startswith("_od_") and "_oc_" + key[len("_od_") :] not in clean:
            del clean[key]
    request.args = ImmutableMultiDict(clean)


def register(app: Flask) -> None:
    app.before_request(sanitize_list_args)

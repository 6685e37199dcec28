"""Lists as declarations: a column spec over a filtered, scoped query, rendered as an HTML table
page or streamed, from the very same query, as CSV (UTF-8 with BOM so Excel opens it, Chinese
headers, formula-like cells neutralised, times in Asia/Shanghai).

FAB ModelViews get the same export through `CsvExportMixin`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from flask import Response, abort, current_app, request, stream_with_context
from flask_appbuilder import expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.urltools import get_filter_args, get_order_args
from flask_babel import format_datetime
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import Select, func, select
from sqlalchemy.orm import selectinload

from . import db

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_BATCH = 500


@dataclass(frozen=True)
class Column:
    """One column: its key, its Chinese label, and how a row shows it (plain text)."""

    key: str
    label: Any
    value: Callable[[Any], Any]


@dataclass
class Page:
    rows: list[Any]
    total: int
    number: int
    size: int

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number * self.size < self.total


def paginate(query: Select, order_by: Iterable[Any], number: int, size: int, count_query: Select | None = None) -> Page:
    """One page of `query`; the count runs over `count_query` (default: the query without ordering)."""
    counted = count_query if count_query is not None else query
    total = db.session.scalar(select(func.count()).select_from(counted.order_by(None).subquery())) or 0
    rows = db.session.scalars(query.order_by(*order_by).limit(size).offset((number - 1) * size)).unique().all()
    return Page(rows=list(rows), total=total, number=number, size=size)


def plain(value: Any) -> str:
    """A value as the text a person reads: blank for nothing, 是/否, local times, no markup."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, dt.datetime):
        return format_datetime(value, "yyyy-MM-dd HH:mm")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, Markup):
        return value.striptags()
    return str(value)


def neutralise(text: str) -> str:
    """Cells starting like a formula are prefixed with ' so spreadsheets show them as text."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_response(columns: list[Column], rows: Iterable[Any], filename: str) -> Response:
    """Stream `rows` as CSV with the columns' labels as headers."""

    def generate() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        buffer.write("\ufeff")
        writer.writerow([str(c.label) for c in columns])
        for count, row in enumerate(rows, start=1):
            writer.writerow([neutralise(plain(c.value(row))) for c in columns])
            if count % CSV_BATCH == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    response = Response(stream_with_context(generate()), mimetype="text/csv")
    stamp = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=8))).strftime("%Y%m%d-%H%M")
    name = f"{filename}-{stamp}.csv"
    response.headers["Content-Disposition"] = f"attachment; filename=export.csv; filename*=UTF-8''{quote(name)}"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def stream_rows(query: Select) -> Iterator[Any]:
    """Rows of `query` in batches, without loading the whole result at once."""
    yield from db.session.scalars(query.execution_options(yield_per=CSV_BATCH))


class CsvExportMixin:
    """导出 CSV for a FAB ModelView: the list's columns, labels, formatters, base filters and the
    current request's search filters and order; rows fetched in batches."""

    csv_columns: list[str] | None = None
    list_template = "lists/fab_list.html"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        routes = getattr(cls, "include_route_methods", None)
        if routes is not None and "csv" not in routes:
            cls.include_route_methods = {*routes, "csv"}

    @expose("/csv")
    @has_access
    def csv(self):
        columns = self.csv_columns or self.list_columns
        if not columns:
            abort(404)
        get_filter_args(self._filters)
        order_column, order_direction = get_order_args().get(self.__class__.__name__, ("", ""))
        if order_column not in (self.order_columns or []) or order_direction not in ("asc", "desc"):
            order_column, order_direction = self.base_order or ("", "")
        joined = self._filters.get_joined_filters(self._base_filters)
        query = self.datamodel.apply_all(
            self.datamodel.session.query(self.datamodel.obj), joined, order_column, order_direction
        )
        formatters = self.formatters_columns or {}

        def accessor(name: str) -> Callable[[Any], Any]:
            def value(row: Any) -> Any:
                raw = getattr(row, name, None)
                raw = raw() if callable(raw) else raw
                return formatters[name](raw) if name in formatters else raw

            return value

        spec = [Column(name, self.label_columns.get(name, name), accessor(name)) for name in columns]
        title = str(self.list_title or current_app.config.get("APP_NAME", "export"))
        return csv_response(spec, query.yield_per(CSV_BATCH), title)

    def render_template(self, template, **kwargs):
        kwargs.setdefault("view", self)
        return super().render_template(template, **kwargs)

    def csv_url(self) -> str:
        from flask import url_for

        return url_for(f"{type(self).__name__}.csv", **request.args)


class EagerInterface(SQLAInterface):
    """FAB's data interface that loads the named relationships of every listed row in one query each,
    instead of one query per row when the list shows them (roles of users, permissions of roles)."""

    def __init__(self, obj, session=None, eager: tuple[str, ...] = ()):
        super().__init__(obj, session=session)
        self.eager = eager

    def apply_all(self, query, *args, **kwargs):
        query = super().apply_all(query, *args, **kwargs)
        return query.options(*(selectinload(getattr(self.obj, name)) for name in self.eager))

"""Lists as declarations: a column spec over a filtered, scoped query, rendered as an HTML table
page or streamed, from the very same query, as CSV (UTF-8 with BOM so Excel opens it, Chinese
headers, formula-like cells neutralised, times in Asia/Shanghai).

Exports select the columns they write (`Field`: a label, an SQL expression, a formatter) over the
list's own filtered and scoped query, and stream the resulting tuples through a server-side cursor
(`yield_per`): no ORM instance is built, memory stays flat at any size. Every export is audited.

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
from urllib.parse import quote, urlsplit

from flask import Response, abort, current_app, g, request, stream_with_context
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
    total: int | None  # None: not counted
    number: int
    size: int
    more: bool = False  # the count stopped at `total` (or, uncounted, a row beyond the page was found)

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.more or (self.total is not None and self.number * self.size < self.total)


def paginate(
    query: Select,
    order_by: Iterable[Any],
    number: int,
    size: int,
    count_query: Select | None = None,
    key_query: Select | None = None,
    count_cap: int | None = None,
    counted: bool = True,
    tuples: bool = False,
) -> Page:
    """One page of `query`; the count runs over `count_query` (default: the query without ordering).

    With `key_query` (the rows' primary keys under the filters, from the fewest tables) the page is found
    in two steps inside one statement: the keys of the page, skipping the earlier pages on an index alone,
    then the whole rows of just those keys through `query`, which then need not repeat the filters. A deep
    page costs an index walk, not the loading of every row before it.

    `counted=False`: no count at all; one row beyond the page says whether there is a next one.
    `tuples=True`: the rows are the query's rows (an entity with computed columns), not its first entity."""

    def fetch(statement: Select) -> list[Any]:
        if tuples:
            return list(db.session.execute(statement).all())
        return list(db.session.scalars(statement).unique().all())

    if not counted:
        rows = fetch(query.order_by(*order_by).limit(size + 1).offset((number - 1) * size))
        return Page(rows=rows[:size], total=None, number=number, size=size, more=len(rows) > size)
    counted_query = (count_query if count_query is not None else query).order_by(None)
    more = False
    if count_cap is not None:
        # a broad search counts up to the cap (and past this page), not every match: "more than 1,000"
        cap = max(count_cap, number * size)
        total = db.session.scalar(select(func.count()).select_from(counted_query.limit(cap + 1).subquery())) or 0
        more = total > cap
        total = min(total, cap)
    else:
        total = db.session.scalar(select(func.count()).select_from(counted_query.subquery())) or 0
    order_by = tuple(order_by)
    if key_query is not None:
        keys = key_query.order_by(*order_by).limit(size).offset((number - 1) * size).subquery()
        key_column = key_query.selected_columns[0]
        query = query.where(key_column.in_(select(keys.c[0])))
    else:
        query = query.limit(size).offset((number - 1) * size)
    return Page(rows=fetch(query.order_by(*order_by)), total=total, number=number, size=size, more=more)


def contains_text(column: Any, text: str) -> Any:
    """“Contains”, ignoring the case of Latin letters (an X in an ID number, letters in a credit code;
    Chinese has none), with % and _ taken literally.

    PostgreSQL: ILIKE, which the trigram indexes serve (LIKE for text without Latin letters, which has no
    case to fold and is compared faster). SQLite: text without Latin letters is found with instr(), twice
    as fast as LIKE over a table that is read whole; otherwise LIKE, which already ignores ASCII case (all
    that `lower()` folds there), so neither side is lowered row by row."""
    latin = any("a" <= char <= "z" for char in text.lower())
    if db.session.get_bind().dialect.name == "sqlite":
        return column.contains(text, autoescape=True) if latin else func.instr(column, text) > 0
    return column.icontains(text, autoescape=True) if latin else column.contains(text, autoescape=True)


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


PAGE_SIZES = (25, 50, 100)
SHANGHAI = dt.timedelta(hours=8)  # Asia/Shanghai keeps no daylight saving: a fixed offset is exact
_FORMULA_CHARS = frozenset(FORMULA_STARTS)


def page_size(default: int = 50) -> int:
    """The ?size= a person chose for a custom list: one of PAGE_SIZES, else the list's default."""
    value = request.args.get("size", "")
    return int(value) if value in {str(size) for size in PAGE_SIZES} else default


def cell(value: Any) -> str:
    """Any value as a CSV cell: text neutralised, numbers as they are, 是/否, local times."""
    if value is None:
        return ""
    kind = value.__class__
    if kind is str:
        return "'" + value if value and value[0] in _FORMULA_CHARS else value
    if kind is int:
        return str(value)
    if kind is dt.datetime:
        return local_time(value)
    return neutralise(plain(value))


def local_time(value: dt.datetime | None) -> str:
    """A stored (naive UTC) time as Asia/Shanghai wall time, yyyy-MM-dd HH:mm."""
    if value is None:
        return ""
    local = value + SHANGHAI if value.tzinfo is None else value.astimezone(dt.timezone(SHANGHAI))
    return f"{local.year:04d}-{local.month:02d}-{local.day:02d} {local.hour:02d}:{local.minute:02d}"


def labelled(labels: dict) -> Callable[[Any], str]:
    """A formatter writing a code's label (status, kind, channel …); unknown codes as they are."""
    words = {code: str(label) for code, label in labels.items()}
    return lambda code: "" if code is None else words.get(code) or cell(code)


def joined_text(*columns: Any) -> Any:
    """Text columns joined by spaces in SQL (empty parts left out), e.g. a region's 省 市 区."""
    text = func.coalesce(columns[0], "")
    for column in columns[1:]:
        text = text.concat(" ").concat(func.coalesce(column, ""))
    return func.trim(func.replace(text, "  ", " "))


def text_list(column: Any, correlate_to: Any, where: Any) -> Any:
    """A correlated subquery joining `column`'s values with commas (a user's roles …), per dialect."""
    joined = (
        func.string_agg(column, ",") if db.engine.dialect.name == "postgresql" else func.group_concat(column, ",")
    )
    return select(joined).where(where).correlate(correlate_to).scalar_subquery()


@dataclass(frozen=True)
class Field:
    """One exported column: its Chinese header, the SQL expression selected for it, and how a value is
    written (default `cell`). Formatters receive the selected value, never a model instance."""

    label: Any
    expr: Any
    fmt: Callable[[Any], str] = cell


def export_csv(
    fields: list[Field], query: Select, title: str, filters: dict[str, Any] | None = None, order_by: Any = ()
) -> Response:
    """导出 CSV: the rows `query` selects (its joins, filters and scope kept), only `fields`' columns
    fetched as tuples through a server-side cursor; the export is audited once the last row is out."""
    if order_by:
        query = query.order_by(None).order_by(*order_by)
    query = query.with_only_columns(*(field.expr for field in fields), maintain_column_froms=True)
    formatters = [field.fmt for field in fields]
    headers = [str(field.label) for field in fields]
    wanted = {k: v for k, v in (filters or {}).items() if v != ""}
    actor = getattr(g, "user", None)

    def generate() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        buffer.write("\ufeff")
        writer.writerow(headers)
        count = 0
        result = db.session.execute(query.execution_options(yield_per=CSV_BATCH, stream_results=True))
        for rows in result.partitions():
            writer.writerows([[fmt(value) for fmt, value in zip(formatters, row, strict=True)] for row in rows])
            count += len(rows)
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        result.close()
        _audit_export(title, wanted, count, actor)
        yield buffer.getvalue()

    return _csv_download(generate(), title)


def described_filters(spec: dict[str, tuple[Any, Any]], args: Any = None) -> dict[str, str]:
    """The filters an export ran with, as the audit log shows them: each argument that is set, named by its
    label, its value in words (`spec`: argument -> (label, None | {code: label} | function))."""
    args = request.args if args is None else args
    described: dict[str, str] = {}
    for key, (label, words) in spec.items():
        value = (args.get(key) or "").strip()
        if not value:
            continue
        if isinstance(words, dict):
            value = str(words.get(value, value))
        elif callable(words):
            value = str(words(value))
        described[str(label)] = value
    return described


def _audit_export(title: str, filters: dict[str, Any], count: int, actor: Any) -> None:
    from . import audit

    audit.record(
        "export",
        "CsvExport",
        title[:60],
        after={"list": title, "filters": filters, "rows": count},
        actor=actor,
    )
    db.session.commit()


def _csv_download(chunks: Iterator[str], title: str) -> Response:
    response = Response(stream_with_context(chunks), mimetype="text/csv")
    stamp = dt.datetime.now(dt.UTC).astimezone(dt.timezone(SHANGHAI)).strftime("%Y%m%d-%H%M")
    name = f"{title}-{stamp}.csv"
    response.headers["Content-Disposition"] = f"attachment; filename=export.csv; filename*=UTF-8''{quote(name)}"
    response.headers["Cache-Control"] = "private, no-store"
    return response


class CsvExportMixin:
    """导出 CSV for a FAB ModelView: the list's columns and labels over its base filters and the current
    request's search filters and order, fetched as column tuples (see `export_csv`).

    A list column that is not a table column (a property, a related name) says which SQL expression
    stands for it in `csv_exprs` (name -> zero-argument function returning the expression, and the
    joins that expression needs in `csv_joins`); columns with neither are left out of the file.
    Formatters receive the column's value, as on the list page."""

    csv_columns: list[str] | None = None
    csv_exprs: dict[str, Callable[[], Any]] = {}
    csv_joins: tuple[Callable[[Select], Select], ...] = ()
    csv_formatters: dict[str, Callable[[Any], str]] = {}
    list_template = "lists/fab_list.html"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        routes = getattr(cls, "include_route_methods", None)
        if routes is not None and "csv" not in routes:
            cls.include_route_methods = {*routes, "csv"}

    def csv_fields(self) -> list[Field]:
        model = self.datamodel.obj
        formatters = self.formatters_columns or {}
        fields = []
        for name in self.csv_columns or self.list_columns:
            if name in self.csv_exprs:
                expr = self.csv_exprs[name]()
            elif name in self.datamodel.list_columns and not self.datamodel.is_relation(name):
                expr = getattr(model, name)
            else:
                continue
            fmt = self.csv_formatters.get(name) or _formatted(formatters.get(name))
            fields.append(Field(self.label_columns.get(name, name), expr, fmt))
        return fields

    @expose("/csv")
    @has_access
    def csv(self):
        fields = self.csv_fields()
        if not fields:
            abort(404)
        get_filter_args(self._filters)
        order_column, order_direction = get_order_args().get(self.__class__.__name__, ("", ""))
        if order_column not in (self.order_columns or []) or order_direction not in ("asc", "desc"):
            order_column, order_direction = self.base_order or ("", "")
        joined = self._filters.get_joined_filters(self._base_filters)
        # FAB's own query building (search filters, base filters, order), minus its eager options
        query = SQLAInterface.apply_all(
            self.datamodel, self.datamodel.session.query(self.datamodel.obj), joined, order_column, order_direction
        ).statement
        for join in self.csv_joins:
            query = join(query)
        # the search as the list's search form shows it: column, how (包含, 等于 …), value
        filters = {
            f"{self.label_columns.get(flt.column_name, flt.column_name)}（{flt.name}）": "、".join(
                str(item) for item in (value if isinstance(value, list) else [value])
            )
            for flt, value in self._filters.get_filters_values()
            if value not in (None, "", [])
        }
        title = str(self.list_title or current_app.config.get("APP_NAME", "export"))
        return export_csv(fields, query, title, filters)

    def render_template(self, template, **kwargs):
        kwargs.setdefault("view", self)
        return super().render_template(template, **kwargs)

    def csv_url(self) -> str:
        from flask import url_for

        return url_for(f"{type(self).__name__}.csv", **request.args)


def _formatted(formatter: Callable[[Any], Any] | None) -> Callable[[Any], str]:
    if formatter is None:
        return cell
    return lambda value: cell(plain(formatter(value)))


class ReturnToListMixin:
    """保存 in a back-office form goes back to where the form was opened from when that is a page of
    the same view (its list with the filters, or a record's page), else to the view's list.

    FAB pops its page history and falls back to the index (工作台) whenever the form was reached
    without visiting the list first (a link, a second save, a reload)."""

    def _back_to_list(self):
        from flask import redirect, url_for

        index = self.appbuilder.get_url_for_index
        previous = self.get_redirect()
        own = url_for(f"{type(self).__name__}.list")
        base = own.rsplit("/list/", 1)[0] + "/"
        path = urlsplit(previous).path if previous and previous != index else ""
        if path.startswith(base) and "/edit/" not in path and "/add" not in path:
            return redirect(previous)
        return redirect(own)

    def post_add_redirect(self):
        return self._back_to_list()

    def post_edit_redirect(self):
        return self._back_to_list()

    def post_delete_redirect(self):
        return self._back_to_list()


class EagerInterface(SQLAInterface):
    """FAB's data interface that loads the named relationships of every listed row in one query each,
    instead of one query per row when the list shows them (roles of users, permissions of roles)."""

    def __init__(self, obj, session=None, eager: tuple[str, ...] = ()):
        super().__init__(obj, session=session)
        self.eager = eager

    def apply_all(self, query, *args, **kwargs):
        query = super().apply_all(query, *args, **kwargs)
        return query.options(*(selectinload(getattr(self.obj, name)) for name in self.eager))

    def query(self, filters=None, order_column="", order_direction="", page=None, page_size=None, **kwargs):
        """Unpaged (the choices of a search form's dropdown): the rows are the count, no COUNT query."""
        if page is None and page_size is None:
            rows = self.apply_all(
                self.session.query(self.obj), filters, order_column, order_direction, None, None, **kwargs
            ).all()
            return len(rows), rows
        return super().query(filters, order_column, order_direction, page, page_size, **kwargs)

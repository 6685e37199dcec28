"""工作台's numbers: what waits for review, what expires, which batches fill, and the trends — each an
aggregate query (GROUP BY), so the page runs a fixed number of queries whatever the data's size.

`waiting_counts()` is also what 审核总览 counts its long waits with (one definition of "waiting").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, or_, select, union_all
from sqlalchemy.orm import contains_eager

from . import db
from .models import Application, Certificate, Enrollment, Enterprise, Membership, MemberTier, TrainingBatch, utcnow
from .qualification import CHINA, level_names, today
from .settings import get_int

EXPIRY_DAYS = (90, 30, 7)
TREND_MONTHS = 12
OLDEST_SHOWN = 10
BATCHES_SHOWN = 20
OTHER_PROVINCES = _l("Other provinces")


def long_wait() -> dt.timedelta:
    """How long an application may wait before it counts as waiting too long (setting review.long_wait_days)."""
    return dt.timedelta(days=get_int("review.long_wait_days"))


def start_of_today() -> dt.datetime:
    """Midnight of today in Asia/Shanghai, as the naive UTC time the columns store."""
    midnight = dt.datetime.combine(today(), dt.time(), tzinfo=CHINA)
    return midnight.astimezone(dt.UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Waiting:
    kind: str
    status: str
    count: int
    too_long: int  # submitted longer ago than long_wait()
    today: int  # submitted today (Asia/Shanghai)
    oldest: dt.datetime | None


def waiting_counts(workflows: Iterable[Any]) -> list[Waiting]:
    """Waiting applications per type and state, the state with the oldest application first."""
    workflows = list(workflows)
    since = utcnow() - long_wait()
    submitted = func.coalesce(Application.submitted_on, Application.created_on)
    today_starts = start_of_today()
    columns = (
        Application.kind,
        Application.status,
        func.count(),
        func.sum(case((submitted < since, 1), else_=0)),
        func.sum(case((submitted >= today_starts, 1), else_=0)),
        func.min(submitted),
    )
    ranges = [
        and_(Application.kind == w.kind, Application.status.in_(w.waiting_states)) for w in workflows if w.waiting_states
    ]
    if not ranges:
        return []
    grouped = (Application.kind, Application.status)
    if db.session.get_bind().dialect.name == "sqlite":
        # SQLite reads an OR of ranges as a scan of every application: one part per range instead
        statement = union_all(*(select(*columns).where(part).group_by(*grouped) for part in ranges))
    else:
        # PostgreSQL ORs the ranges' bitmaps and reads each table page once (parts would read them again)
        statement = select(*columns).where(or_(*ranges)).group_by(*grouped)
    rows = db.session.execute(statement).all()
    result = [Waiting(kind, status, count, int(late or 0), int(new or 0), oldest) for kind, status, count, late, new, oldest in rows]
    return sorted(result, key=lambda w: (w.oldest is None, w.oldest or dt.datetime.max, w.kind, w.status))


def waiting_too_long_by_kind(workflows: Iterable[Any]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for row in waiting_counts(workflows):
        totals[row.kind] = totals.get(row.kind, 0) + row.too_long
    return totals


def oldest_waiting(workflows: Iterable[Any], limit: int = OLDEST_SHOWN) -> list[Application]:
    """The applications that have waited longest, across every type the user reviews.

    Each type's oldest come first from its own queue index (kind, waiting since, id); the union of
    those few rows is ordered again, so no statement sorts every waiting application."""
    since = func.coalesce(Application.submitted_on, Application.created_on)
    parts = [
        select(Application.id.label("id"), since.label("since"))
        .where(Application.kind == w.kind, Application.status.in_(w.waiting_states))
        .order_by(since, Application.id)
        .limit(limit)
        .subquery()
        for w in workflows
        if w.waiting_states
    ]
    if not parts:
        return []
    oldest = union_all(*(select(part.c.id, part.c.since) for part in parts)).subquery()
    ids = select(oldest.c.id).order_by(oldest.c.since, oldest.c.id).limit(limit)
    return list(
        db.session.scalars(
            select(Application)
            .join(Enterprise, Enterprise.id == Application.enterprise_id)
            .options(contains_eager(Application.enterprise))
            .where(Application.id.in_(ids))
            .order_by(since, Application.id)
        )
    )


def _expiry_sums(column: Any) -> list[Any]:
    day = today()
    return [func.sum(case((column <= day + dt.timedelta(days=days), 1), else_=0)) for days in EXPIRY_DAYS]


def expiring_certificates() -> dict[str, dict[int, int]]:
    """Certificates in force that expire within 90/30/7 days, per kind (membership certificates excluded:
    memberships are counted by `expiring_memberships`)."""
    day = today()
    rows = db.session.execute(
        select(Certificate.kind, *_expiry_sums(Certificate.valid_until))
        .where(
            Certificate.status == "valid",
            Certificate.kind != "membership",
            Certificate.valid_until >= day,
            Certificate.valid_until <= day + dt.timedelta(days=max(EXPIRY_DAYS)),
        )
        .group_by(Certificate.kind)
    ).all()
    return {kind: dict(zip(EXPIRY_DAYS, (int(n or 0) for n in sums), strict=True)) for kind, *sums in rows}


def expiring_memberships() -> dict[int, int]:
    day = today()
    row = db.session.execute(
        select(*_expiry_sums(Membership.valid_until)).where(
            Membership.status == "valid",
            Membership.valid_until >= day,
            Membership.valid_until <= day + dt.timedelta(days=max(EXPIRY_DAYS)),
        )
    ).one()
    return dict(zip(EXPIRY_DAYS, (int(n or 0) for n in row), strict=True))


@dataclass(frozen=True)
class BatchLoad:
    batch: TrainingBatch
    enrolled: int

    @property
    def full(self) -> bool:
        return self.enrolled >= self.batch.capacity

    @property
    def signup_open(self) -> bool:
        return self.batch.status == "open" and self.batch.signup_opens_on <= today() <= self.batch.signup_closes_on


def training_batches(limit: int = BATCHES_SHOWN) -> list[BatchLoad]:
    """Batches taking sign-ups now or soon, and batches not yet over that are full; soonest first."""
    day = today()
    enrolled = func.count(Enrollment.id)
    rows = db.session.execute(
        select(TrainingBatch, enrolled)
        .outerjoin(Enrollment, Enrollment.batch_id == TrainingBatch.id)
        .where(TrainingBatch.status.in_(("open", "closed")), TrainingBatch.ends_on >= day)
        .group_by(TrainingBatch.id)
        .having(
            or_(
                and_(TrainingBatch.status == "open", TrainingBatch.signup_closes_on >= day),
                enrolled >= TrainingBatch.capacity,
            )
        )
        .order_by(TrainingBatch.starts_on.asc(), TrainingBatch.id.asc())
        .limit(limit)
    ).all()
    return [BatchLoad(batch, count) for batch, count in rows]


# --- trends ---------------------------------------------------------------------------------------


def trend_months(count: int = TREND_MONTHS) -> list[str]:
    """The last `count` months as YYYY-MM, oldest first, ending with the current month (Asia/Shanghai)."""
    year, month = today().year, today().month
    months = []
    for _ in range(count):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months[::-1]


def _local_month(column: Any) -> Any:
    """YYYY-MM of a naive UTC time column, in Asia/Shanghai, on SQLite and PostgreSQL alike."""
    if db.engine.dialect.name == "postgresql":
        return func.to_char(column + dt.timedelta(hours=8), "YYYY-MM")
    return func.strftime("%Y-%m", column, "+8 hours")


def applications_per_month(kinds: Iterable[str]) -> dict[str, dict[str, int]]:
    """Submitted applications per type and month, the last 12 months: {kind: {YYYY-MM: n}}."""
    months = trend_months()
    first = dt.datetime.combine(dt.date.fromisoformat(months[0] + "-01"), dt.time(), tzinfo=CHINA)
    month = _local_month(Application.submitted_on)
    rows = db.session.execute(
        select(Application.kind, month, func.count())
        .where(
            Application.kind.in_(list(kinds)),
            Application.submitted_on >= first.astimezone(dt.UTC).replace(tzinfo=None),
        )
        .group_by(Application.kind, month)
    ).all()
    result: dict[str, dict[str, int]] = {}
    for kind, key, count in rows:
        result.setdefault(kind, {})[key] = count
    return result


def _region(province: str, city: str, region_code: str, home: str) -> str:
    return city if region_code.startswith(home) else str(OTHER_PROVINCES)


def _by_level_and_region(rows: Iterable[tuple[str, str, str, str, int]], home: str) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for level, province, city, region_code, count in rows:
        region = _region(province, city, region_code, home)
        cells = table.setdefault(level, {})
        cells[region] = cells.get(region, 0) + count
    return table


def _region_columns() -> tuple[Any, Any, Any]:
    # the city's code is the first 4 digits of the district code
    return Enterprise.province, Enterprise.city, func.substr(Enterprise.region_code, 1, 4)


def members_by_tier_and_region(home: str) -> dict[str, dict[str, int]]:
    """Members in force per tier and city (home province) or 'other provinces': {tier: {region: n}}."""
    province, city, code = _region_columns()
    rows = db.session.execute(
        select(MemberTier.name, province, city, code, func.count(func.distinct(Membership.enterprise_id)))
        .select_from(Membership)
        .join(MemberTier, MemberTier.id == Membership.tier_id)
        .join(Enterprise, Enterprise.id == Membership.enterprise_id)
        .where(Membership.status == "valid", Membership.valid_until >= today())
        .group_by(MemberTier.sort_order, MemberTier.name, province, city, code)
        .order_by(MemberTier.sort_order)
    ).all()
    return _by_level_and_region(rows, home)


def certificates_by_level_and_region(home: str) -> dict[str, dict[str, int]]:
    """Qualification certificates in force per level (its name) and region: {level: {region: n}}."""
    names = level_names()
    province, city, code = _region_columns()
    rows = db.session.execute(
        select(Certificate.level, province, city, code, func.count())
        .join(Enterprise, Enterprise.id == Certificate.enterprise_id)
        .where(Certificate.kind == "qualification", Certificate.status == "valid")
        .group_by(Certificate.level, province, city, code)
    ).all()
    return _by_level_and_region(((names.get(level or "", level or "—"), *rest) for level, *rest in rows), home)


@dataclass
class Chart:
    """A chart's numbers, drawn by static/js/dashboard.js and shown as a table under it."""

    key: str
    title: Any
    categories: list[str]  # x axis (months, regions)
    series: dict[str, list[int]]  # name -> one number per category
    kind: str = "bar"  # bar | line

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "categories": self.categories,
            "series": [{"name": name, "data": data} for name, data in self.series.items()],
        }

    @property
    def totals(self) -> list[int]:
        return [sum(values) for values in zip(*self.series.values(), strict=True)] if self.series else []


def grid_chart(key: str, title: Any, table: dict[str, dict[str, int]], kind: str = "bar") -> Chart:
    """{series: {category: n}} as a chart whose categories are sorted by their total, largest first."""
    totals: dict[str, int] = {}
    for cells in table.values():
        for category, count in cells.items():
            totals[category] = totals.get(category, 0) + count
    categories = sorted(totals, key=lambda c: (-totals[c], c))
    series = {name: [cells.get(c, 0) for c in categories] for name, cells in table.items()}
    return Chart(key, title, categories, series, kind)


def monthly_chart(workflows: Iterable[Any]) -> Chart:
    workflows = list(workflows)
    months = trend_months()
    counts = applications_per_month(w.kind for w in workflows)
    series = {str(w.label): [counts.get(w.kind, {}).get(m, 0) for m in months] for w in workflows}
    return Chart("applications", _l("Applications per month by type"), months, series, "line")

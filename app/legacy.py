"""Switch-over import from the old system: enterprises, memberships, qualification certificates, staff.

Each kind reads the CSV (UTF-8 with or without BOM, GBK) or .xlsx the old system exports, plans every
row (create, update, unchanged or refuse) against what the platform already holds, and applies the
plan only when no row is refused: one file is one transaction. Rows are matched by credit code,
member number, certificate number and ID number, so importing the same file again changes nothing.
Everything an import needs is fetched per file by key (a few queries per file, not per row), so
ten thousand certificates import in seconds. Old numbers are kept exactly and the yearly number
sequences continue after the highest imported number (`numbering.continue_after`).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import insert, select

from . import audit, db, regions
from .accounts import decode_legacy_csv
from .exceptions import UserError
from .identity import InvalidIdentity, normalize_credit_code, normalize_id_number
from .models import (
    AuditLog,
    Certificate,
    CertificateEvent,
    Enrollment,
    Enterprise,
    LegacyAccount,
    Membership,
    MemberTier,
    QualificationLevel,
    StaffCertificate,
    TechnicalStaff,
    TrainingBatch,
    utcnow,
)
from .numbering import continue_after
from .settings import get_setting
from .xlsx import Limits, Workbook, WorkbookRejected

KINDS = ("enterprises", "memberships", "certificates", "staff")
CHUNK = 500  # keys per IN (...) of a prefetch
MAX_ROWS = 200_000  # data rows of one file (the old system's largest export is some tens of thousands)
XLSX_LIMITS = Limits(max_rows=MAX_ROWS + 1, max_columns=40, max_cells=4_000_000)
XLSX_EPOCH = dt.date(1899, 12, 30)
DATE_RE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?\Z")
YEAR_RE = re.compile(r"(?<!\d)(\d{4})(?!\d)")
DEFAULT_BATCH = "旧系统培训记录"

CERTIFICATE_STATUSES = {
    "valid": "valid",
    "有效": "valid",
    "正常": "valid",
    "suspended": "suspended",
    "暂停": "suspended",
    "暂扣": "suspended",
    "revoked": "revoked",
    "撤销": "revoked",
    "吊销": "revoked",
    "expired": "expired",
    "过期": "expired",
    "已过期": "expired",
    "superseded": "superseded",
    "已换证": "superseded",
    "void": "void",
    "作废": "void",
    "注销": "void",
}
MEMBERSHIP_STATUSES = {"valid": "valid", "有效": "valid", "正常": "valid", "expired": "expired", "过期": "expired"}
RESULTS = {"passed": "passed", "合格": "passed", "通过": "passed", "failed": "failed", "不合格": "failed"}


class ImportRefused(UserError):
    """The file cannot be read at all (encoding, header, workbook): nothing is planned."""


@dataclass
class Outcome:
    """The plan for one data row: what would happen and why."""

    line: int
    action: str  # create | update | unchanged | refuse
    key: str
    detail: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    target: Any = None


@dataclass
class Report:
    kind: str
    sha256: str
    outcomes: list[Outcome]
    applied: bool = False

    def count(self, action: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.action == action)

    @property
    def refused(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.action == "refuse"]


# --- reading ---------------------------------------------------------------------------------------


def read_table(raw: bytes) -> tuple[set[str], list[tuple[int, dict[str, Any]]]]:
    """The header's column names and (line, {column: value}) of every non-empty data row."""
    if raw[:4] == b"PK\x03\x04":
        try:
            with Workbook(raw, XLSX_LIMITS) as book:
                if not book.sheets:
                    raise ImportRefused("the workbook has no sheet")
                name, path = book.sheets[0]
                table = [(number, cells) for number, cells in book.rows(path, name)]
        except WorkbookRejected as error:
            raise ImportRefused(error.message) from None
        if not table:
            raise ImportRefused("the file has no header row")
        _header_line, header_cells = table[0]
        columns = {index: str(value).strip().lower() for index, value in header_cells.items() if value is not None}
        rows = [(number, {columns[i]: v for i, v in cells.items() if i in columns}) for number, cells in table[1:]]
    else:
        try:
            text = decode_legacy_csv(raw)
        except UserError:
            raise ImportRefused("the file is neither UTF-8 nor GBK") from None
        reader = csv.reader(io.StringIO(text))
        header = next(reader, None)
        if not header:
            raise ImportRefused("the file has no header row")
        names = [name.strip().lower() for name in header]
        columns = dict(enumerate(names))
        rows = []
        for line, record in enumerate(reader, start=2):
            if line > MAX_ROWS + 1:
                raise ImportRefused(f"more than {MAX_ROWS} rows: split the file")
            rows.append((line, dict(zip(names, record, strict=False))))
    return set(columns.values()), [(line, row) for line, row in rows if any(text_of(v) for v in row.values())]


def text_of(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def parse_date(value: Any) -> dt.date:
    """2019-03-01, 2019/3/1, 2019.3.1, 2019年3月1日, or a date cell of a workbook."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and 1 < value < 2958466:
        return XLSX_EPOCH + dt.timedelta(days=int(value))
    text = text_of(value)
    text = text.split(" ")[0] if re.match(r"\d{4}-\d{1,2}-\d{1,2} \d", text) else text
    match = DATE_RE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a date (2019-03-01, 2019/3/1 or 2019年3月1日)")
    try:
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise ValueError(f"{text!r} is not a date of the calendar") from None


def parse_amount(value: Any) -> Decimal:
    text = text_of(value).replace(",", "").replace("，", "")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not an amount") from None
    if amount < 0 or not amount.is_finite():
        raise ValueError(f"{text!r} is not an amount")
    return amount.quantize(Decimal("0.01"))


def parse_count(value: Any, default: int) -> int:
    text = text_of(value)
    if not text:
        return default
    if not text.isdigit() or int(text) > 99:
        raise ValueError(f"{text!r} is not a number of copies")
    return int(text)


def fits(model: Any, column: str, text: str) -> str:
    """`text` if the column can hold it, else ValueError (PostgreSQL would refuse the whole file's INSERT)."""
    length = getattr(model.__table__.c[column].type, "length", None)
    if length is not None and len(text) > length:
        raise ValueError(f"longer than {length} characters")
    return text


def fetch(column: Any, keys: Iterable[Any], *columns: Any) -> list[Any]:
    """Rows whose `column` is among `keys`, CHUNK keys per query."""
    keys = sorted({key for key in keys if key})
    entity = columns or (column.class_,)
    found: list[Any] = []
    for start in range(0, len(keys), CHUNK):
        statement = select(*entity).where(column.in_(keys[start : start + CHUNK]))
        found.extend(db.session.execute(statement).all() if columns else db.session.scalars(statement).all())
    return found


# --- the importers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str
    required: bool
    description: str


class Importer:
    kind: str = ""
    columns: tuple[Column, ...] = ()

    def __init__(self, filename: str, digest: str) -> None:
        self.filename = filename
        self.digest = digest
        self.comment = _("Imported from the old system: %(file)s (sha256 %(sha)s)", file=filename, sha=digest)
        self.credit_codes: dict[str, str | InvalidIdentity] = {}

    def credit_code(self, text: str) -> str:
        """The normalized credit code (raises InvalidIdentity), checked once per distinct value of the file."""
        if text not in self.credit_codes:
            try:
                self.credit_codes[text] = normalize_credit_code(text)
            except InvalidIdentity as error:
                self.credit_codes[text] = error
        found = self.credit_codes[text]
        if isinstance(found, InvalidIdentity):
            raise found
        return found

    def header_problem(self, header: set[str]) -> str | None:
        missing = [c.name for c in self.columns if c.required and c.name not in header]
        return f"header: missing columns {', '.join(missing)}" if missing else None

    def plan(self, rows: list[tuple[int, dict[str, Any]]]) -> list[Outcome]:
        raise NotImplementedError

    def apply(self, outcomes: list[Outcome]) -> None:
        raise NotImplementedError

    def required(self, row: dict[str, Any], problems: list[str]) -> dict[str, str]:
        values = {c.name: text_of(row.get(c.name)) for c in self.columns}
        problems.extend(f"{c.name} is empty" for c in self.columns if c.required and not values[c.name])
        return values

    def audit(self, object_type: str, object_id: Any, before: dict | None, after: dict) -> None:
        audit.record("import", object_type, object_id, before=before, after=after, comment=self.comment)

    def audit_row(self, object_type: str, object_id: Any, before: dict | None, after: dict, at: dt.datetime) -> dict:
        """The values of the audit row `audit.record` would add, for a bulk INSERT (run from the command line)."""
        return {
            "at": at,
            "actor_id": None,
            "actor_name": audit.actor_name(None),
            "action": "import",
            "object_type": object_type,
            "object_id": str(object_id),
            "before": json.dumps(before, ensure_ascii=False, default=str) if before is not None else None,
            "after": json.dumps(after, ensure_ascii=False, default=str),
            "comment": self.comment,
        }

    def enterprises_by_code(self, rows: list[tuple[int, dict[str, Any]]]) -> dict[str, Enterprise]:
        return {enterprise.credit_code: enterprise for enterprise in fetch(Enterprise.credit_code, self.codes_of(rows))}

    def codes_of(self, rows: list[tuple[int, dict[str, Any]]]) -> list[str]:
        codes = []
        for _line, row in rows:
            try:
                codes.append(self.credit_code(text_of(row.get("credit_code"))))
            except InvalidIdentity:
                continue
        return codes

    def enterprise_for(
        self, values: dict[str, str], enterprises: dict[str, Enterprise], problems: list[str]
    ) -> Enterprise | None:
        if not values["credit_code"]:
            return None
        try:
            values["credit_code"] = self.credit_code(values["credit_code"])
        except InvalidIdentity as error:
            problems.append(f"credit_code: {error.message}")
            return None
        enterprise = enterprises.get(values["credit_code"])
        if enterprise is None:
            problems.append("credit_code: no such enterprise (import the enterprises file first)")
        return enterprise


def _imported_event(certificate: Certificate, status: str) -> CertificateEvent:
    return CertificateEvent(
        certificate=certificate,
        enterprise_id=certificate.enterprise_id,
        event="issued",
        from_status=None,
        to_status=status,
        note=_("Imported from the old system"),
        actor_name=str(_("System")),
        at=utcnow(),
    )


def _check_number(number: str, kind: str, enterprise: Enterprise | None, found: Certificate | None) -> str | None:
    if found is None:
        return None
    if found.kind != kind:
        return f"number {number} belongs to another kind of certificate"
    if enterprise is not None and found.enterprise_id != enterprise.id:
        return f"number {number} belongs to another enterprise"
    return None


def _diff(target: Any, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(before, after) of the fields of `values` that differ from `target`."""
    before, after = {}, {}
    for name, value in values.items():
        old = getattr(target, name)
        if isinstance(old, float | int) and isinstance(value, Decimal):
            old = Decimal(str(old)).quantize(Decimal("0.01"))
        if isinstance(old, Decimal) and isinstance(value, Decimal):
            old = old.quantize(Decimal("0.01"))
        if old != value:
            before[name], after[name] = audit._plain(old), audit._plain(value)
    return before, after


# --- enterprises -------------------------------------------------------------------------------------

PROFILE_COLUMNS = (
    "name",
    "legal_person",
    "registered_capital",
    "founded_on",
    "address",
    "contact_person",
    "mobile",
    "landline",
    "email",
    "business_scope",
)


class EnterpriseImporter(Importer):
    kind = "enterprises"
    columns = (
        Column("credit_code", True, "统一社会信用代码 of an account imported before (18 characters)"),
        Column("name", False, "enterprise name (default: the account's)"),
        Column("region_code", False, "6-digit district code (default: the account's)"),
        Column("legal_person", False, "legal representative"),
        Column("registered_capital", False, "registered capital in 10,000 yuan (e.g. 500 or 500.00)"),
        Column("founded_on", False, "date of establishment (date)"),
        Column("address", False, "address"),
        Column("contact_person", False, "contact person"),
        Column("mobile", False, "contact mobile"),
        Column("landline", False, "landline"),
        Column("email", False, "e-mail"),
        Column("business_scope", False, "business scope"),
    )

    def plan(self, rows):
        enterprises = self.enterprises_by_code(rows)
        accounts = {a.credit_code: a for a in fetch(LegacyAccount.credit_code, self.codes_of(rows))}
        seen: dict[str, int] = {}
        outcomes = []
        for line, row in rows:
            problems: list[str] = []
            values = self.required(row, problems)
            code = values["credit_code"]
            if code:
                try:
                    code = values["credit_code"] = self.credit_code(code)
                except InvalidIdentity as error:
                    problems.append(f"credit_code: {error.message}")
            profile: dict[str, Any] = {}
            for name in PROFILE_COLUMNS:
                text = values.get(name, "")
                if not text:
                    continue
                try:
                    if name == "registered_capital":
                        profile[name] = parse_amount(text)
                    elif name == "founded_on":
                        profile[name] = parse_date(row.get(name))
                    else:
                        profile[name] = fits(Enterprise, name, text)
                except ValueError as error:
                    problems.append(f"{name}: {error}")
            enterprise = enterprises.get(code)
            account = accounts.get(code)
            if code in seen:
                problems.append(f"credit_code repeats line {seen[code]}")
            seen.setdefault(code, line)
            region = values["region_code"] or (account.region_code if account else "")
            if values["region_code"] and regions.resolve(values["region_code"]) is None:
                problems.append(f"region_code {values['region_code']!r} is not a current district code")
            if enterprise is None and account is None and code and not problems:
                problems.append("credit_code: no account of the old system has it (import accounts first)")
            if problems:
                outcomes.append(Outcome(line, "refuse", code, "; ".join(problems)))
                continue
            if enterprise is None:
                profile.setdefault("name", account.enterprise_name)
                for name in ("legal_person", "address", "contact_person", "mobile", "landline"):
                    profile.setdefault(name, getattr(account, name))
                province, city, district = regions.resolve(region)
                profile.update(region_code=region, province=province, city=city, district=district)
                outcomes.append(Outcome(line, "create", code, profile["name"], values=profile))
                continue
            if values["region_code"] and values["region_code"] != enterprise.region_code:
                province, city, district = regions.resolve(region)
                profile.update(region_code=region, province=province, city=city, district=district)
            before, after = _diff(enterprise, profile)
            action = "update" if after else "unchanged"
            detail = ", ".join(after) if after else enterprise.name
            outcomes.append(Outcome(line, action, code, detail, values=profile, target=(before, after, enterprise)))
        return outcomes

    def apply(self, outcomes):
        created = []
        for outcome in outcomes:
            if outcome.action == "create":
                enterprise = Enterprise(credit_code=outcome.key, **outcome.values)
                db.session.add(enterprise)
                created.append((enterprise, outcome.values))
            elif outcome.action == "update":
                before, after, enterprise = outcome.target
                for name in after:
                    setattr(enterprise, name, outcome.values[name])
                self.audit("Enterprise", enterprise.id, _without_code(before), _without_code(after))
        db.session.flush()
        for enterprise, values in created:
            after = {"credit_code": enterprise.credit_code, **_without_code(values)}
            self.audit("Enterprise", enterprise.id, None, after)


def _without_code(values: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if name != "region_code"}


# --- memberships -------------------------------------------------------------------------------------


class MembershipImporter(Importer):
    kind = "memberships"
    columns = (
        Column("credit_code", True, "统一社会信用代码 of an imported enterprise"),
        Column("member_number", True, "member number exactly as printed (e.g. 皖安协会[2025]第0012号)"),
        Column("tier", True, "member tier, as named under 会员级别 (e.g. 理事单位)"),
        Column("valid_from", True, "start of the membership period (date)"),
        Column("valid_until", True, "end of the membership period (date)"),
        Column("fee_paid", True, "fee paid in yuan (e.g. 5000 or 5000.00)"),
        Column("status", False, "有效 (default) or 过期"),
    )

    def plan(self, rows):
        enterprises = self.enterprises_by_code(rows)
        tiers = {tier.name: tier for tier in db.session.scalars(select(MemberTier))}
        numbers = [text_of(row.get("member_number")) for _line, row in rows]
        certificates = {c.number: c for c in fetch(Certificate.number, numbers)}
        memberships = {
            m.certificate_id: m for m in fetch(Membership.certificate_id, [c.id for c in certificates.values()])
        }
        seen: dict[str, int] = {}
        outcomes = []
        for line, row in rows:
            problems: list[str] = []
            values = self.required(row, problems)
            enterprise = self.enterprise_for(values, enterprises, problems)
            number = values["member_number"]
            if len(number) > 60:
                problems.append("member_number is longer than 60 characters")
            tier = tiers.get(values["tier"])
            if values["tier"] and tier is None:
                problems.append(f"tier {values['tier']!r} is not a member tier ({'、'.join(tiers)})")
            plan: dict[str, Any] = {}
            for name in ("valid_from", "valid_until"):
                if values[name]:
                    try:
                        plan[name] = parse_date(row.get(name))
                    except ValueError as error:
                        problems.append(f"{name}: {error}")
            if values["fee_paid"]:
                try:
                    plan["fee"] = parse_amount(values["fee_paid"])
                except ValueError as error:
                    problems.append(f"fee_paid: {error}")
            status = MEMBERSHIP_STATUSES.get(values["status"] or "有效")
            if status is None:
                problems.append(f"status {values['status']!r} is not 有效 or 过期")
            if plan.get("valid_from") and plan.get("valid_until") and plan["valid_until"] < plan["valid_from"]:
                problems.append("valid_until is before valid_from")
            if number in seen:
                problems.append(f"member_number repeats line {seen[number]}")
            seen.setdefault(number, line)
            found = certificates.get(number)
            clash = _check_number(number, "membership", enterprise, found)
            if clash:
                problems.append(clash)
            if problems:
                outcomes.append(Outcome(line, "refuse", number or values["credit_code"], "; ".join(problems)))
                continue
            plan.update(status=status, tier_id=tier.id)
            membership = memberships.get(found.id) if found else None
            if found is None or membership is None:
                if found is not None:
                    outcomes.append(Outcome(line, "refuse", number, "the number is a certificate without membership"))
                    continue
                outcomes.append(Outcome(line, "create", number, enterprise.name, values=plan, target=enterprise))
                continue
            before, after = _diff(membership, plan)
            cert_before, cert_after = _diff(
                found, {"valid_from": plan["valid_from"], "valid_until": plan["valid_until"], "status": status}
            )
            changed = after or cert_after
            detail = ", ".join(sorted(set(after) | set(cert_after))) if changed else enterprise.name
            outcomes.append(
                Outcome(line, "update" if changed else "unchanged", number, detail, plan, (membership, before, after))
            )
        return outcomes

    def readable(self, values: dict[str, Any]) -> dict[str, Any]:
        """The audit's words for a membership's fields: the tier by name, the fee as 会费."""
        if not hasattr(self, "tier_names"):
            self.tier_names = {tier.id: tier.name for tier in db.session.scalars(select(MemberTier))}
        renamed = {"tier_id": "tier", "fee": "fee_paid"}
        return {
            renamed.get(name, name): self.tier_names.get(value, value) if name == "tier_id" else audit._plain(value)
            for name, value in values.items()
        }

    def apply(self, outcomes):
        created = []
        for outcome in outcomes:
            plan = outcome.values
            if outcome.action == "create":
                enterprise = outcome.target
                certificate = Certificate(
                    kind="membership",
                    number=outcome.key,
                    enterprise_id=enterprise.id,
                    holder_name=enterprise.name,
                    issued_on=plan["valid_from"],
                    valid_from=plan["valid_from"],
                    valid_until=plan["valid_until"],
                    status=plan["status"],
                    copies_original=1,
                    copies_duplicate=0,
                )
                membership = Membership(enterprise_id=enterprise.id, certificate=certificate, **plan)
                db.session.add_all([certificate, membership, _imported_event(certificate, plan["status"])])
                created.append(membership)
            elif outcome.action == "update":
                membership, before, after = outcome.target
                for name in ("tier_id", "fee", "valid_from", "valid_until", "status"):
                    setattr(membership, name, plan[name])
                for name in ("valid_from", "valid_until", "status"):
                    setattr(membership.certificate, name, plan[name])
                self.audit(
                    "Membership",
                    membership.id,
                    {"member_number": outcome.key} | self.readable(before),
                    {"member_number": outcome.key} | self.readable(after),
                )
        db.session.flush()
        for membership in created:
            values = {
                name: getattr(membership, name) for name in ("tier_id", "fee", "valid_from", "valid_until", "status")
            }
            self.audit(
                "Membership",
                membership.id,
                None,
                {"member_number": membership.certificate.number} | self.readable(values),
            )
        continue_after(
            "membership", [(o.key, o.values["valid_from"]) for o in outcomes if o.action in ("create", "update")]
        )


# --- qualification certificates ----------------------------------------------------------------------


def level_mapping() -> dict[str, str]:
    """Old level name -> platform level code, from the setting `legacy.level_map` ("旧名称=一级" per line).

    The right-hand side is a platform level's name or code; a platform level's own name and code
    always map to themselves.
    """
    levels = list(db.session.scalars(select(QualificationLevel)))
    by_name = {level.name: level.code for level in levels} | {level.code: level.code for level in levels}
    mapping = dict(by_name)
    for raw_line in get_setting("legacy.level_map").splitlines():
        line = raw_line.replace("＝", "=").strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        old, new = (part.strip() for part in line.split("=", 1))
        if old and new in by_name:
            mapping[old] = by_name[new]
    return mapping


def parse_years(text: str) -> list[int]:
    years = sorted({int(year) for year in YEAR_RE.findall(text)})
    rest = YEAR_RE.sub("", text)
    if re.sub(r"[\s,，;；、/]", "", rest):
        raise ValueError(f"{text!r} is not a list of years (e.g. 2024、2025)")
    return years


class CertificateImporter(Importer):
    kind = "certificates"
    columns = (
        Column("credit_code", True, "统一社会信用代码 of an imported enterprise"),
        Column("number", True, "certificate number exactly as printed (e.g. 皖安协资[2026]第0042号)"),
        Column("level", True, "level name in the old system, mapped by the setting legacy.level_map"),
        Column("issued_on", True, "date of issue (date)"),
        Column("valid_from", False, "start of validity (date; default: issued_on)"),
        Column("valid_until", True, "end of validity (date)"),
        Column("status", False, "有效 (default), 暂停, 撤销, 过期, 已换证 or 作废"),
        Column("annual_reviews", False, "years of the annual reviews passed, e.g. 2024、2025"),
        Column("copies_original", False, "number of 正本 (default 1)"),
        Column("copies_duplicate", False, "number of 副本 (default 1)"),
    )

    def plan(self, rows):
        enterprises = self.enterprises_by_code(rows)
        mapping = level_mapping()
        numbers = [text_of(row.get("number")) for _line, row in rows]
        certificates = {c.number: c for c in fetch(Certificate.number, numbers)}
        reviewed: dict[int, set[int]] = {}
        events = fetch(
            CertificateEvent.certificate_id,
            [c.id for c in certificates.values()],
            CertificateEvent.certificate_id,
            CertificateEvent.event,
            CertificateEvent.review_year,
            CertificateEvent.note,
        )
        for certificate_id, event, year, note in events:
            if event == "annual_review":
                years = {year} if year else {int(y) for y in YEAR_RE.findall(note or "")}
                reviewed.setdefault(certificate_id, set()).update(years)
        seen: dict[str, int] = {}
        outcomes = []
        for line, row in rows:
            problems: list[str] = []
            values = self.required(row, problems)
            enterprise = self.enterprise_for(values, enterprises, problems)
            number = values["number"]
            if len(number) > 60:
                problems.append("number is longer than 60 characters")
            level = mapping.get(values["level"])
            if values["level"] and level is None:
                problems.append(
                    f"level {values['level']!r} is not mapped to a platform level (setting legacy.level_map)"
                )
            plan: dict[str, Any] = {"level": level}
            for name in ("issued_on", "valid_from", "valid_until"):
                if values[name]:
                    try:
                        plan[name] = parse_date(row.get(name))
                    except ValueError as error:
                        problems.append(f"{name}: {error}")
            plan.setdefault("valid_from", plan.get("issued_on"))
            status = CERTIFICATE_STATUSES.get(values["status"] or "有效")
            if status is None:
                problems.append(f"status {values['status']!r} is not one of {'、'.join(CERTIFICATE_STATUSES)}")
            plan["status"] = status
            try:
                plan["copies_original"] = parse_count(values["copies_original"], 1)
                plan["copies_duplicate"] = parse_count(values["copies_duplicate"], 1)
                years = parse_years(values["annual_reviews"])
            except ValueError as error:
                problems.append(str(error))
                years = []
            if plan.get("valid_from") and plan.get("valid_until") and plan["valid_until"] < plan["valid_from"]:
                problems.append("valid_until is before valid_from")
            if number in seen:
                problems.append(f"number repeats line {seen[number]}")
            seen.setdefault(number, line)
            found = certificates.get(number)
            clash = _check_number(number, "qualification", enterprise, found)
            if clash:
                problems.append(clash)
            if problems:
                outcomes.append(Outcome(line, "refuse", number or values["credit_code"], "; ".join(problems)))
                continue
            plan["holder_name"] = enterprise.name
            if found is None:
                outcomes.append(
                    Outcome(line, "create", number, enterprise.name, values=plan | {"years": years}, target=enterprise)
                )
                continue
            before, after = _diff(found, {k: v for k, v in plan.items() if k != "holder_name"})
            new_years = [year for year in years if year not in reviewed.get(found.id, set())]
            if new_years:
                after["annual_reviews"] = new_years
            detail = ", ".join(after) if after else enterprise.name
            outcomes.append(
                Outcome(
                    line,
                    "update" if after else "unchanged",
                    number,
                    detail,
                    values=plan | {"years": new_years},
                    target=(found, before, after),
                )
            )
        return outcomes

    def apply(self, outcomes):
        # Creations go in as bulk INSERTs (ten thousand certificates would otherwise be forty thousand
        # ORM objects); updates are few and go through the ORM.
        now = utcnow()
        creates = [o for o in outcomes if o.action == "create"]
        rows = []
        for outcome in creates:
            plan = {k: v for k, v in outcome.values.items() if k != "years"}
            rows.append(
                plan
                | {"kind": "qualification", "number": outcome.key, "enterprise_id": outcome.target.id}
                | {"created_on": now, "changed_on": now}
            )
        ids = (
            list(db.session.scalars(insert(Certificate).returning(Certificate.id, sort_by_parameter_order=True), rows))
            if rows
            else []
        )
        events, audits, notes = [], [], {}
        system = str(_("System"))
        level_names = {level.code: level.name for level in db.session.scalars(select(QualificationLevel))}

        def review_note(year: int) -> str:
            if year not in notes:
                notes[year] = _("Annual review passed %(year)s", year=year)
            return notes[year]

        imported_note = _("Imported from the old system")
        for certificate_id, outcome, row in zip(ids, creates, rows, strict=True):
            years = outcome.values["years"]
            event = {
                "certificate_id": certificate_id,
                "enterprise_id": row["enterprise_id"],
                "actor_name": system,
                "review_year": None,  # every row names the same columns (one executemany)
            }
            events.append(
                event
                | {"event": "issued", "from_status": None, "to_status": row["status"], "at": now}
                | {"note": imported_note}
            )
            events.extend(
                event
                | {"event": "annual_review", "from_status": row["status"], "to_status": row["status"], "at": now}
                | {"note": review_note(year), "review_year": year}
                for year in years
            )
            after = readable_certificate({name: row[name] for name in CERTIFICATE_AUDIT}, level_names)
            if years:
                after["annual_reviews"] = years
            audits.append(self.audit_row("Certificate", certificate_id, None, after, now))
        for outcome in outcomes:
            if outcome.action != "update":
                continue
            certificate, before, after = outcome.target
            for name, value in outcome.values.items():
                if name != "years":
                    setattr(certificate, name, value)
            base = {
                "certificate_id": certificate.id,
                "enterprise_id": certificate.enterprise_id,
                "actor_name": system,
                "review_year": None,
            }
            events.extend(
                base
                | {"event": "annual_review", "from_status": certificate.status, "to_status": certificate.status}
                | {"note": review_note(year), "review_year": year, "at": now}
                for year in outcome.values["years"]
            )
            if any(name in after for name in COPIES):  # the phrase names both counts
                before = before | {name: before.get(name, getattr(certificate, name)) for name in COPIES}
                after = after | {name: getattr(certificate, name) for name in COPIES}
            before = readable_certificate(before, level_names)
            after = readable_certificate(after, level_names)
            audits.append(self.audit_row("Certificate", certificate.id, before, after, now))
        # Core INSERTs run as one executemany (the ORM's bulk path would group rows by their None values).
        if events:
            db.session.execute(CertificateEvent.__table__.insert(), events)
        if audits:
            db.session.execute(AuditLog.__table__.insert(), audits)
        continue_after(
            "qualification", [(o.key, o.values["valid_from"]) for o in outcomes if o.action in ("create", "update")]
        )


CERTIFICATE_AUDIT = (
    "number",
    "level",
    "issued_on",
    "valid_from",
    "valid_until",
    "status",
    "copies_original",
    "copies_duplicate",
)
COPIES = ("copies_original", "copies_duplicate")


def readable_certificate(values: dict[str, Any], level_names: dict[str, str]) -> dict[str, Any]:
    """The audit's words for a certificate's fields: the level by name, 正本 and 副本 in one phrase."""
    result = {name: audit._plain(value) for name, value in values.items() if name not in COPIES}
    if "level" in result:
        result["level"] = level_names.get(result["level"], result["level"])
    if "copies_original" in values and "copies_duplicate" in values:
        result["copies"] = copies_phrase(values["copies_original"], values["copies_duplicate"], str(get_locale()))
    return result


@functools.lru_cache(maxsize=64)
def copies_phrase(originals: int, duplicates: int, _locale: str) -> str:
    # one translation per pair of counts and locale, not one per certificate of a large file
    return _("original %(a)s, duplicate %(b)s", a=originals, b=duplicates)


# --- technical staff --------------------------------------------------------------------------------


class StaffImporter(Importer):
    kind = "staff"
    columns = (
        Column("credit_code", True, "统一社会信用代码 of an imported enterprise"),
        Column("name", True, "name"),
        Column("gender", False, "男 or 女 (default: from the ID card number)"),
        Column("id_number", True, "18-character 身份证号"),
        Column("mobile", True, "mobile phone"),
        Column("education", True, "one of the setting staff.educations"),
        Column("major", False, "major"),
        Column("title", True, "one of the setting staff.titles"),
        Column("position", True, "one of the setting staff.positions"),
        Column("insurance_months", True, "months of social insurance with the enterprise"),
        Column("training_batch", False, f"training batch name (default {DEFAULT_BATCH})"),
        Column("training_result", False, "合格 or 不合格 (empty: no training result)"),
        Column("training_date", False, "date of the result (date; needed with a result)"),
        Column("training_certificate_number", False, "training certificate number (needed with 合格)"),
        Column("certificate_kind", False, "a professional certificate: kind (e.g. 安全员证)"),
        Column("certificate_number", False, "its number (needed with certificate_kind)"),
        Column("certificate_grade", False, "its grade"),
        Column("certificate_issued_on", False, "its date of issue (date)"),
        Column("certificate_expires_on", False, "its expiry (date)"),
    )

    def plan(self, rows):
        from .staff import STAFF_COLUMNS, check_staff, gender_of, staff_choices

        enterprises = self.enterprises_by_code(rows)
        choices = staff_choices()
        ids = []
        for _line, row in rows:
            try:
                ids.append(normalize_id_number(text_of(row.get("id_number"))))
            except InvalidIdentity:
                continue
        staff = {(s.enterprise_id, s.id_number): s for s in fetch(TechnicalStaff.id_number, ids)}
        batch_names = {text_of(row.get("training_batch")) or DEFAULT_BATCH for _line, row in rows}
        batches = {b.name: b for b in fetch(TrainingBatch.name, batch_names)}
        enrolled = {(e.batch_id, e.id_number) for e in fetch(Enrollment.batch_id, [b.id for b in batches.values()])}
        numbers = [text_of(row.get("training_certificate_number")) for _line, row in rows]
        taken_numbers = {number for (number,) in fetch(Certificate.number, numbers, Certificate.number)}
        held = {
            (c.staff_id, c.kind, c.number) for c in fetch(StaffCertificate.staff_id, [s.id for s in staff.values()])
        }
        seen: dict[tuple[str, str], int] = {}
        seen_numbers: dict[str, int] = {}
        seen_seats: dict[tuple[str, str], int] = {}
        outcomes = []
        for line, row in rows:
            problems: list[str] = []
            values = self.required(row, problems)
            enterprise = self.enterprise_for(values, enterprises, problems)
            raw = {name: row.get(name) for name in STAFF_COLUMNS}
            if not text_of(raw.get("gender")) and values["id_number"]:
                try:
                    raw["gender"] = gender_of(values["id_number"].upper())
                except (ValueError, IndexError):
                    pass
            person, errors = check_staff(raw, choices)
            problems.extend(f"{name}: {message}" for name, message in errors.items())
            key = person.get("id_number") or values["id_number"]
            plan: dict[str, Any] = {"person": person}
            result = None
            if values["training_result"]:
                result = RESULTS.get(values["training_result"])
                if result is None:
                    problems.append(f"training_result {values['training_result']!r} is not 合格 or 不合格")
                try:
                    plan["training_date"] = parse_date(row.get("training_date"))
                except ValueError as error:
                    problems.append(f"training_date: {error}")
                number = values["training_certificate_number"]
                if len(number) > 60:
                    problems.append("training_certificate_number is longer than 60 characters")
                if result == "passed" and not number:
                    problems.append("training_certificate_number is empty (needed with 合格)")
                if number and number in seen_numbers:
                    problems.append(f"training_certificate_number repeats line {seen_numbers[number]}")
                seen_numbers.setdefault(number, line)
            if len(values["training_batch"]) > 200:
                problems.append("training_batch is longer than 200 characters")
            plan.update(
                result=result,
                batch=values["training_batch"] or DEFAULT_BATCH,
                number=values["training_certificate_number"] if result == "passed" else None,
            )
            if values["certificate_kind"]:
                if not values["certificate_number"]:
                    problems.append("certificate_number is empty (needed with certificate_kind)")
                dates = {}
                for name in ("certificate_issued_on", "certificate_expires_on"):
                    if values[name]:
                        try:
                            dates[name] = parse_date(row.get(name))
                        except ValueError as error:
                            problems.append(f"{name}: {error}")
                try:
                    plan["certificate"] = {
                        "kind": fits(StaffCertificate, "kind", values["certificate_kind"]),
                        "number": fits(StaffCertificate, "number", values["certificate_number"]),
                        "grade": fits(StaffCertificate, "grade", values["certificate_grade"]) or None,
                        "issued_on": dates.get("certificate_issued_on"),
                        "expires_on": dates.get("certificate_expires_on"),
                    }
                except ValueError as error:
                    problems.append(f"certificate: {error}")
            if enterprise is not None and key:
                if (enterprise.credit_code, key) in seen:
                    problems.append(f"id_number repeats line {seen[(enterprise.credit_code, key)]}")
                seen.setdefault((enterprise.credit_code, key), line)
            if result is not None and key:
                # one seat per person and batch (Enrollment's unique key), whichever enterprise the row names
                if (plan["batch"], key) in seen_seats:
                    problems.append(f"id_number has a result in this batch on line {seen_seats[(plan['batch'], key)]}")
                seen_seats.setdefault((plan["batch"], key), line)
            if problems:
                outcomes.append(Outcome(line, "refuse", key or values["credit_code"], "; ".join(problems)))
                continue
            existing = staff.get((enterprise.id, key))
            batch = batches.get(plan["batch"])
            changes: list[str] = []
            before: dict[str, Any] = {}
            after: dict[str, Any] = {}
            if existing is not None:
                before, after = _diff(existing, {name: person[name] for name in STAFF_COLUMNS})
                changes.extend(after)
            plan["enrol"] = result is not None and (batch is None or (batch.id, key) not in enrolled)
            if plan["enrol"] and result == "passed" and plan["number"] in taken_numbers:
                outcomes.append(Outcome(line, "refuse", key, f"training certificate number {plan['number']} is taken"))
                continue
            if plan["enrol"]:
                changes.append("training_result")
            certificate = plan.get("certificate")
            plan["add_certificate"] = bool(certificate) and (
                existing is None or (existing.id, certificate["kind"], certificate["number"]) not in held
            )
            if plan["add_certificate"]:
                changes.append("certificate")
            plan.update(enterprise=enterprise, existing=existing, before=before, after=after)
            if existing is None:
                outcomes.append(Outcome(line, "create", key, person["name"], values=plan))
            else:
                action = "update" if changes else "unchanged"
                outcomes.append(Outcome(line, action, key, ", ".join(changes) or person["name"], values=plan))
        return outcomes

    def apply(self, outcomes):
        from .staff import STAFF_COLUMNS

        active = [o for o in outcomes if o.action in ("create", "update")]
        batches = {b.name: b for b in fetch(TrainingBatch.name, {o.values["batch"] for o in active})}
        for name in {o.values["batch"] for o in active if o.values["enrol"]} - set(batches):
            days = [o.values["training_date"] for o in active if o.values["enrol"] and o.values["batch"] == name]
            batch = TrainingBatch(
                name=name,
                notice=_("Training results imported from the old system"),
                starts_on=min(days),
                ends_on=max(days),
                place=_("Old system"),
                capacity=len(days),
                fee=0,
                signup_opens_on=min(days),
                signup_closes_on=min(days),
                status="finished",
            )
            db.session.add(batch)
            batches[name] = batch
        people = []
        for outcome in active:
            plan = outcome.values
            person = plan["existing"]
            if person is None:
                person = TechnicalStaff(enterprise_id=plan["enterprise"].id)
                db.session.add(person)
            for name in STAFF_COLUMNS:
                setattr(person, name, plan["person"][name])
            people.append((outcome, person))
        db.session.flush()
        trained, results = [], []
        for outcome, person in people:
            plan = outcome.values
            enterprise = plan["enterprise"]
            after = dict(plan["after"]) if plan["existing"] else audit.snapshot(person, STAFF_COLUMNS)
            if plan["enrol"]:
                certificate = None
                if plan["result"] == "passed":
                    certificate = Certificate(
                        kind="training",
                        number=plan["number"],
                        enterprise_id=enterprise.id,
                        holder_name=person.name,
                        issued_on=plan["training_date"],
                        valid_from=plan["training_date"],
                        status="valid",
                        copies_original=1,
                        copies_duplicate=0,
                    )
                    db.session.add_all([certificate, _imported_event(certificate, "valid")])
                    trained.append((plan["number"], plan["training_date"]))
                enrollment = Enrollment(
                    batch=batches[plan["batch"]],
                    staff_id=person.id,
                    enterprise_id=enterprise.id,
                    id_number=person.id_number,
                    status=plan["result"],
                    certificate=certificate,
                    result_on=plan["training_date"],
                )
                db.session.add(enrollment)
                results.append((enrollment, plan["number"]))
            if plan["add_certificate"]:
                db.session.add(StaffCertificate(staff_id=person.id, enterprise_id=enterprise.id, **plan["certificate"]))
                after["certificate"] = f"{plan['certificate']['kind']} {plan['certificate']['number']}"
            self.audit("TechnicalStaff", person.id, plan["before"] or None, after)
        db.session.flush()
        for enrollment, number in results:
            result = {"name": enrollment.batch.name, "status": enrollment.status}
            self.audit("Enrollment", enrollment.id, None, result | ({"certificate_number": number} if number else {}))
        continue_after("training", trained)


IMPORTERS: dict[str, type[Importer]] = {
    "enterprises": EnterpriseImporter,
    "memberships": MembershipImporter,
    "certificates": CertificateImporter,
    "staff": StaffImporter,
}


def run_import(kind: str, raw: bytes, filename: str, dry_run: bool = False) -> Report:
    """Plan every row of the file; apply the plan in one transaction unless dry-run or a row is refused."""
    digest = hashlib.sha256(raw).hexdigest()
    importer = IMPORTERS[kind](filename, digest)
    header, rows = read_table(raw)
    problem = importer.header_problem(header)
    if problem:
        raise ImportRefused(problem)
    if not rows:
        raise ImportRefused("the file has no data rows")
    with db.session.no_autoflush:
        outcomes = importer.plan(rows)
    report = Report(kind, digest, outcomes)
    if dry_run or report.refused or not any(o.action in ("create", "update") for o in outcomes):
        db.session.rollback()
        return report
    try:
        importer.apply(outcomes)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    report.applied = True
    return report


def describe(kind: str) -> list[Column]:
    return list(IMPORTERS[kind].columns)

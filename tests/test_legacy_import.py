"""#14 Switch-over import: enterprises, memberships, qualification certificates and staff from the old system."""

import datetime as dt
import io
import json
import re
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from app import db
from app.accounts import import_legacy_accounts
from app.audit import action_label, changes, object_label
from app.legacy import ImportRefused, parse_date, run_import
from app.models import (
    AuditLog,
    Certificate,
    CertificateEvent,
    Enrollment,
    Enterprise,
    Membership,
    NumberSequence,
    StaffCertificate,
    TechnicalStaff,
)
from app.numbering import next_number, parse_number
from app.settings import get_setting

SAMPLES = Path(__file__).resolve().parent.parent / "docs" / "legacy"
ORDER = ("enterprises", "memberships", "certificates", "staff")
HEFEI = "91340104MA90000015"  # the first enterprise of the sample files
WUHU = "91340104MA90000028"
CERT_HEADER = (
    "credit_code,number,level,issued_on,valid_from,valid_until,status,annual_reviews,copies_original,copies_duplicate"
)


def sample(kind: str) -> bytes:
    return (SAMPLES / f"{kind}.csv").read_bytes()


def counts() -> dict[str, int]:
    models = (Enterprise, Membership, Certificate, CertificateEvent, TechnicalStaff, Enrollment, StaffCertificate)
    result = {model.__name__: db.session.scalar(select(func.count()).select_from(model)) for model in models}
    result["AuditLog"] = db.session.scalar(select(func.count()).select_from(AuditLog))
    result["NumberSequence"] = db.session.scalar(select(func.coalesce(func.sum(NumberSequence.last), 0)))
    return result


def import_samples(*kinds: str) -> None:
    from app.models import LegacyAccount

    if not db.session.scalar(select(func.count()).select_from(LegacyAccount)):
        assert import_legacy_accounts(sample("accounts"))[1] == []
    for kind in kinds:
        report = run_import(kind, sample(kind), f"{kind}.csv")
        assert report.applied and not report.refused, [(o.line, o.detail) for o in report.refused]


def certificates_file(*rows: str, encoding: str = "utf-8") -> bytes:
    return ("\n".join([CERT_HEADER, *rows]) + "\n").encode(encoding)


def test_dry_run_plans_every_row_and_changes_nothing(app):
    import_legacy_accounts(sample("accounts"))
    before = counts()
    report = run_import("enterprises", sample("enterprises"), "enterprises.csv", dry_run=True)
    assert [(o.line, o.action, o.key) for o in report.outcomes] == [(2, "create", HEFEI), (3, "create", WUHU)]
    assert not report.applied and counts() == before
    import_samples("enterprises")
    before = counts()
    for kind in ORDER[1:]:
        report = run_import(kind, sample(kind), f"{kind}.csv", dry_run=True)
        assert {o.action for o in report.outcomes} == {"create"} and not report.applied
    assert counts() == before


def test_cli_dry_run_and_refusal_output(app, tmp_path):
    import_samples("enterprises")
    runner = app.test_cli_runner()
    path = tmp_path / "certificates.csv"
    path.write_bytes(sample("certificates"))
    result = runner.invoke(args=["legacy", "import", "certificates", "--dry-run", str(path)])
    assert result.exit_code == 0, result.output
    assert "line 2: create 皖安协资[2026]第0042号" in result.output and "dry run: nothing changed." in result.output
    assert db.session.scalar(select(func.count()).select_from(Certificate)) == 0
    path.write_bytes(sample("certificates").replace("三级资质".encode(), "特级".encode()))
    result = runner.invoke(args=["legacy", "import", "certificates", str(path)])
    assert result.exit_code == 1
    assert "line 3: refuse 皖安协资[2024]第0107号" in result.output and "level '特级'" in result.output
    assert "nothing imported" in result.output
    assert db.session.scalar(select(func.count()).select_from(Certificate)) == 0


@pytest.mark.parametrize(
    "bad_row",
    [
        f"{WUHU},皖安协资[2024]第0107号,特级,2024-03-01,,2027-02-28,有效,,1,1",  # unknown level
        f"{WUHU},皖安协资[2024]第0107号,三级,2024-02-30,,2027-02-28,有效,,1,1",  # no such date
        "91340104MA9000002X,皖安协资[2024]第0107号,三级,2024-03-01,,2027-02-28,有效,,1,1",  # bad check character
        f"{WUHU},皖安协资[2026]第0042号,三级,2024-03-01,,2027-02-28,有效,,1,1",  # number repeats line 2
        f"{WUHU},{'号' * 61},三级,2024-03-01,,2027-02-28,有效,,1,1",  # longer than the register holds
    ],
)
def test_one_bad_row_refuses_the_whole_file(app, bad_row):
    import_samples("enterprises")
    before = counts()
    good = f"{HEFEI},皖安协资[2026]第0042号,二级,2026-01-15,,2029-01-14,有效,,1,2"
    report = run_import("certificates", certificates_file(good, bad_row), "certificates.csv")
    assert [o.action for o in report.outcomes] == ["create", "refuse"] and report.refused[0].line == 3
    assert not report.applied and counts() == before


def test_samples_import_once_and_a_second_run_changes_nothing(app):
    import_samples(*ORDER)
    after_first = counts()
    assert after_first["Certificate"] == 5  # 2 memberships, 2 qualifications, 1 training certificate
    for kind in ORDER:
        report = run_import(kind, sample(kind), f"{kind}.csv")
        assert {o.action for o in report.outcomes} == {"unchanged"}, kind
        assert not report.applied
    assert counts() == after_first


def test_imported_values_and_audit(app):
    import_samples(*ORDER)
    hefei = db.session.scalar(select(Enterprise).where(Enterprise.credit_code == HEFEI))
    assert hefei.name == "合肥老牌安防工程有限公司" and hefei.founded_on == dt.date(2008, 5, 12)
    assert float(hefei.registered_capital) == 800 and hefei.legal_person == "李四"  # the account's value kept
    certificate = db.session.scalar(select(Certificate).where(Certificate.number == "皖安协资[2024]第0107号"))
    assert (certificate.level, certificate.status, certificate.valid_from) == ("L3", "valid", dt.date(2024, 3, 1))
    assert certificate.valid_until == dt.date(2027, 2, 28)
    assert [e.event for e in certificate.events] == ["issued", "annual_review"] and "2025" in certificate.events[1].note
    qualified = db.session.scalar(select(Certificate).where(Certificate.number == "皖安协资[2026]第0042号"))
    assert (qualified.level, qualified.copies_original, qualified.copies_duplicate) == ("L2", 1, 2)
    membership = db.session.scalar(select(Membership).where(Membership.enterprise_id == hefei.id))
    assert membership.member_number == "皖安协会[2026]第0015号" and membership.tier.name == "理事单位"
    assert float(membership.fee) == 5000 and membership.valid_until == dt.date(2027, 2, 28)
    person = db.session.scalar(select(TechnicalStaff).where(TechnicalStaff.enterprise_id == hefei.id))
    enrollment = db.session.scalar(select(Enrollment).where(Enrollment.staff_id == person.id))
    assert enrollment.status == "passed" and enrollment.certificate_number == "皖安协培[2025]第00031号"
    assert enrollment.batch.name == "2025年第一期安防技术培训" and enrollment.batch.status == "finished"
    assert [(c.kind, c.number) for c in person.certificates] == [("安全员证", "皖建安C(2020)0012345")]
    digest = run_import("certificates", sample("certificates"), "c.csv", dry_run=True).sha256
    entry = db.session.scalar(
        select(AuditLog).where(AuditLog.object_type == "Certificate", AuditLog.object_id == str(certificate.id))
    )
    assert entry.action == "import" and digest in entry.comment and "certificates.csv" in entry.comment
    assert json.loads(entry.after)["annual_reviews"] == [2025]
    imported = db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "import"))
    assert imported == 9  # one per imported row of the four files, and the training result


def test_audit_of_an_import_reads_in_chinese(app):
    import_samples(*ORDER)
    entries = db.session.scalars(select(AuditLog).where(AuditLog.action == "import")).all()
    assert {entry.object_type for entry in entries} == {
        "Enterprise",
        "Membership",
        "Certificate",
        "TechnicalStaff",
        "Enrollment",
    }
    for entry in entries:
        assert not re.search("[A-Za-z]", object_label(entry.object_type) + action_label(entry.action))
        for label, _old, new in changes(entry):
            assert not re.search("[A-Za-z]", label), (entry.object_type, label)
            assert new not in ("valid", "expired", "passed", "L2", "L3"), (entry.object_type, label, new)


def test_a_changed_row_updates_with_before_and_after(app):
    import_samples("enterprises", "memberships", "certificates")
    changed = sample("certificates").replace("2029-01-14,有效,,1,2".encode(), "2029-01-14,暂停,2027,1,2".encode())
    report = run_import("certificates", changed, "certificates.csv")
    assert [o.action for o in report.outcomes] == ["update", "unchanged"] and report.applied
    certificate = db.session.scalar(select(Certificate).where(Certificate.number == "皖安协资[2026]第0042号"))
    assert certificate.status == "suspended" and [e.event for e in certificate.events] == ["issued", "annual_review"]
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "import").order_by(AuditLog.id.desc()).limit(1))
    assert json.loads(entry.before) == {"status": "valid"}
    assert json.loads(entry.after) == {"status": "suspended", "annual_reviews": [2027]}


def test_memberships_and_staff_update_in_place(app):
    import_samples(*ORDER)
    fees = sample("memberships").replace(b",5000,", b",5500,")
    report = run_import("memberships", fees, "memberships.csv")
    assert [o.action for o in report.outcomes] == ["update", "unchanged"] and report.applied
    assert db.session.scalar(select(func.sum(Membership.fee))) == 7500
    staff = sample("staff").replace(b"13900000022", b"13900000033")
    report = run_import("staff", staff, "staff.csv")
    assert [o.action for o in report.outcomes] == ["unchanged", "update"] and report.outcomes[1].detail == "mobile"
    assert db.session.scalar(select(func.count()).select_from(TechnicalStaff)) == 2
    assert db.session.scalar(select(TechnicalStaff.mobile).where(TechnicalStaff.name == "刘工")) == "13900000033"


def test_number_sequences_continue_after_imported_numbers(app):
    import_samples(*ORDER)
    assert next_number("qualification", dt.date(2026, 6, 1)) == "皖安协资[2026]第0043号"
    assert next_number("qualification", dt.date(2024, 6, 1)) == "皖安协资[2024]第0108号"
    assert next_number("membership", dt.date(2026, 6, 1)) == "皖安协会[2026]第0016号"
    assert next_number("training", dt.date(2025, 6, 1)) == "皖安协培[2025]第00032号"
    assert next_number("qualification", dt.date(2025, 6, 1)) == "皖安协资[2025]第0001号"
    # importing a lower number later never moves a sequence back
    db.session.rollback()
    lower = certificates_file(f"{WUHU},皖安协资[2026]第0007号,三级,2026-02-01,,2029-01-31,有效,,1,1")
    assert run_import("certificates", lower, "more.csv").applied
    last = db.session.scalar(
        select(NumberSequence.last).where(NumberSequence.kind == "qualification", NumberSequence.year == 2026)
    )
    assert last == 42


def test_number_is_parsed_through_the_configured_pattern():
    assert parse_number("皖安协资[{year}]第{seq:04d}号", "皖安协资[2026]第0042号") == (2026, 42)
    assert parse_number("QA-{seq:05d}", "QA-00123") == (None, 123)
    assert parse_number("皖安协资[{year}]第{seq:04d}号", "皖安协资[2026]第0042号-01") is None


def test_level_mapping_is_a_setting_the_association_edits(app):
    import_samples("enterprises")
    from app.models import Setting

    row = f"{HEFEI},QA-1,旧一级,2026-01-15,,2029-01-14,有效,,1,1"
    assert run_import("certificates", certificates_file(row), "c.csv", dry_run=True).refused
    db.session.get(Setting, "legacy.level_map").value = get_setting("legacy.level_map") + "\n旧一级=一级"
    db.session.commit()
    report = run_import("certificates", certificates_file(row), "c.csv")
    assert report.applied and db.session.scalar(select(Certificate.level).where(Certificate.number == "QA-1")) == "L1"


def test_gbk_csv_and_xlsx_are_read(app):
    import_samples("enterprises")
    gbk = certificates_file(
        f"{HEFEI},皖安协资[2026]第0042号,贰级,2026年1月15日,,2029/1/14,有效,2027、2028,1,1", encoding="gbk"
    )
    assert run_import("certificates", gbk, "gbk.csv").applied
    book = Workbook()
    sheet = book.active
    sheet.append(CERT_HEADER.split(","))
    sheet.append([WUHU, "皖安协资[2024]第0107号", "三级", dt.date(2024, 3, 1), None, "2027/2/28", "有效", 2025, 1, 1])
    data = io.BytesIO()
    book.save(data)
    report = run_import("certificates", data.getvalue(), "certificates.xlsx")
    assert report.applied and report.outcomes[0].action == "create"
    certificate = db.session.scalar(select(Certificate).where(Certificate.number == "皖安协资[2024]第0107号"))
    assert certificate.issued_on == dt.date(2024, 3, 1) and certificate.valid_until == dt.date(2027, 2, 28)


def test_xlsx_sample_plans_like_the_csv_sample(app):
    import_samples("enterprises")
    from_csv = run_import("certificates", sample("certificates"), "c.csv", dry_run=True).outcomes
    from_xlsx = run_import(
        "certificates", (SAMPLES / "certificates.xlsx").read_bytes(), "c.xlsx", dry_run=True
    ).outcomes
    assert [(o.line, o.action, o.key, o.values) for o in from_xlsx] == [
        (o.line, o.action, o.key, o.values) for o in from_csv
    ]


def test_date_forms_of_the_old_system():
    for text in ("2019-03-01", "2019/3/1", "2019年3月1日", "2019.3.1", "2019-03-01 00:00:00"):
        assert parse_date(text) == dt.date(2019, 3, 1), text
    for text in ("2019-02-30", "01/03/2019", "三月一日"):
        with pytest.raises(ValueError):
            parse_date(text)


def test_files_that_cannot_be_read_are_refused(app):
    with pytest.raises(ImportRefused, match="missing columns"):
        run_import("certificates", b"credit_code,number\nx,y\n", "c.csv")
    with pytest.raises(ImportRefused, match="no data rows"):
        run_import("certificates", certificates_file(), "c.csv")
    with pytest.raises(ImportRefused, match="neither UTF-8 nor GBK"):
        run_import("certificates", CERT_HEADER.encode() + b"\n\xff\xfe\xfd\x80\x80\n", "c.csv")


def test_staff_rows_are_validated_as_in_the_staff_form(app):
    import_samples("enterprises")
    text = sample("staff").decode().replace("340202199007012024", "340202199007012025")
    report = run_import("staff", text.encode(), "staff.csv")
    assert [o.action for o in report.outcomes] == ["create", "refuse"]
    assert "id_number" in report.refused[0].detail and not report.applied


def test_rows_of_an_enterprise_not_imported_are_refused(app):
    import_legacy_accounts(sample("accounts"))
    report = run_import("memberships", sample("memberships"), "memberships.csv")
    assert {o.action for o in report.outcomes} == {"refuse"}
    assert "import the enterprises file first" in report.outcomes[0].detail


def test_activated_legacy_account_finds_its_certificate_and_membership(app, client, auth):
    from test_legacy_activation import activate

    import_samples(*ORDER)
    response = activate(app, client, account="hfanfang", password="OldPass88", phone="13966669999")
    assert "/login/" in response.headers["Location"]
    assert db.session.scalar(select(func.count()).select_from(Enterprise)) == 2  # no second enterprise
    auth.login("13966669999", "OldPass88")
    page = client.get("/qualification/certificates/").get_data(as_text=True)
    assert "皖安协资[2026]第0042号" in page and "皖安协会[2026]第0015号" in page
    assert "皖安协资[2024]第0107号" not in page  # the other enterprise's
    page = client.get("/membership/").get_data(as_text=True)
    assert "皖安协会[2026]第0015号" in page and "理事单位" in page


def test_an_annual_review_passed_in_the_old_system_is_not_offered_again(app):
    """皖安协资[2024]第0107号 (valid from 2024-03-01) passed its 2025 review in the old system."""
    from app.qualification import eligibility

    import_samples("enterprises", "certificates")
    certificate = db.session.scalar(select(Certificate).where(Certificate.number == "皖安协资[2024]第0107号"))
    assert [e.review_year for e in certificate.events if e.event == "annual_review"] == [2025]
    passed = eligibility("qualification_annual", certificate.enterprise_id, on=dt.date(2025, 3, 10))
    assert not passed.allowed and "已" in passed.reason
    coming = eligibility("qualification_annual", certificate.enterprise_id, on=dt.date(2026, 3, 10))
    assert coming.allowed and coming.review_year == 2

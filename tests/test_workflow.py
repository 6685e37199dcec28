"""Workflow engine: the state × event × actor matrix of every registered workflow, atomicity,
concurrency, audit and notices."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app import db
from app.models import (
    Application,
    AuditLog,
    Membership,
    Notification,
    StatusLog,
)
from app.workflows import REGISTRY, Conflict, GuardFailed, WorkflowError, apply, available, diagram
from app.workflows.membership import WORKFLOW
from concurrency import race, separate_apps
from conftest import outbox
from factories import READY_APPLICATION, make_enterprise_user, make_membership_application, make_user

ACTORS = ("owner", "other_enterprise", "reviewer", "association_admin", "admin")
STAFF = ("reviewer", "association_admin", "admin")

# PRODUCT.md's membership workflow, written out independently of app/workflows/membership.py:
# transition -> (from states, to state, who may fire it).
SPEC = {
    "submit": ({"draft"}, "submitted", "owner"),
    "resubmit": ({"returned"}, "submitted", "owner"),
    "withdraw": ({"submitted", "returned"}, "withdrawn", "owner"),
    "receive": ({"submitted"}, "received", "staff"),
    "approve": ({"submitted", "received"}, "approved", "staff"),
    "return": ({"submitted", "received"}, "returned", "staff"),
    "refuse": ({"submitted", "received"}, "refused", "staff"),
    "pay": ({"approved", "payment_returned"}, "payment_submitted", "owner"),
    "confirm_payment": ({"payment_submitted"}, "completed", "staff"),
    "return_payment": ({"payment_submitted"}, "payment_returned", "staff"),
}


# PRODUCT.md F5–F9, the same for the five qualification types: the enterprise builds the draft in
# the wizard, submits it, may take it back for changes (修改资料) until the association receives it.
QUALIFICATION_SPEC = {
    "submit": ({"draft"}, "submitted", "owner"),
    "resubmit": ({"returned"}, "submitted", "owner"),
    "revise": ({"submitted"}, "draft", "owner"),
    "withdraw": ({"draft", "submitted", "returned"}, "withdrawn", "owner"),
    "receive": ({"submitted"}, "received", "staff"),
    "approve": ({"submitted", "received"}, "approved", "staff"),
    "return": ({"submitted", "received"}, "returned", "staff"),
    "refuse": ({"submitted", "received"}, "refused", "staff"),
}

# PRODUCT.md F11 信息变更: the shared submission and review; approval is final (the profile changes).
CHANGE_SPEC = {
    "submit": ({"draft"}, "submitted", "owner"),
    "resubmit": ({"returned"}, "submitted", "owner"),
    "withdraw": ({"submitted", "returned"}, "withdrawn", "owner"),
    "receive": ({"submitted"}, "received", "staff"),
    "approve": ({"submitted", "received"}, "approved", "staff"),
    "return": ({"submitted", "received"}, "returned", "staff"),
    "refuse": ({"submitted", "received"}, "refused", "staff"),
}

# F12 证书补办: review, then 证书发放方式 — free reissues end with 确认 (deliver), paid ones go through payment.
REPLACEMENT_SPEC = {
    **CHANGE_SPEC,
    "deliver": ({"approved"}, "completed", "owner"),
    "pay": ({"approved", "payment_returned"}, "payment_submitted", "owner"),
    "confirm_payment": ({"payment_submitted"}, "completed", "staff"),
    "return_payment": ({"payment_submitted"}, "payment_returned", "staff"),
}

# F14 外省企业备案: the shared submission and review; approval is final (the filing certificate is issued).
FILING_SPEC = {
    "submit": ({"draft"}, "submitted", "owner"),
    "resubmit": ({"returned"}, "submitted", "owner"),
    "withdraw": ({"submitted", "returned"}, "withdrawn", "owner"),
    "receive": ({"submitted"}, "received", "staff"),
    "approve": ({"submitted", "received"}, "approved", "staff"),
    "return": ({"submitted", "received"}, "returned", "staff"),
    "refuse": ({"submitted", "received"}, "refused", "staff"),
}

# Every registered workflow has its specification here, written apart from its table.
SPECS = {
    "membership": SPEC,
    "qualification_new": QUALIFICATION_SPEC,
    "qualification_annual": QUALIFICATION_SPEC,
    "qualification_upgrade": QUALIFICATION_SPEC,
    "qualification_downgrade": QUALIFICATION_SPEC,
    "qualification_renewal": QUALIFICATION_SPEC,
    "filing": FILING_SPEC,
    "change": CHANGE_SPEC,
    "replacement": REPLACEMENT_SPEC,
}


def allowed(spec: dict, name: str, actor: str) -> bool:
    who = spec[name][2]
    return actor == "owner" if who == "owner" else actor in STAFF


def test_every_workflow_has_a_spec_and_a_ready_factory(app):
    assert set(SPECS) == set(REGISTRY) == set(READY_APPLICATION)


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_the_table_is_the_specified_one(app, kind):
    assert {
        t.name: (set(t.sources), t.target, "owner" if t.owner_only else "staff") for t in REGISTRY[kind].transitions
    } == SPECS[kind]


def counts(record_id: int, object_type: str | None = None) -> tuple[int, int]:
    """Status-log rows and audit rows of one application (audit rows of issued certificates aside)."""
    audit_rows = select(func.count()).select_from(AuditLog).where(AuditLog.object_id == str(record_id))
    if object_type:
        audit_rows = audit_rows.where(AuditLog.object_type == object_type)
    return (
        db.session.scalar(select(func.count()).select_from(StatusLog).where(StatusLog.application_id == record_id)),
        db.session.scalar(audit_rows),
    )


@pytest.fixture
def people(app):
    owner = make_enterprise_user()
    return {
        "owner": owner,
        "other_enterprise": make_enterprise_user(),
        "reviewer": make_user("Reviewer"),
        "association_admin": make_user("AssociationAdmin"),
        "admin": make_user("Admin"),
    }


# Tables emptied between the matrix's cases (applications, their parts and what approval issued).
CASE_TABLES = {
    "application",
    "membership_application",
    "qualification_application",
    "qualification_staff",
    "qualification_project",
    "application_file",
    "payment",
    "status_log",
    "notification",
    "membership",
    "certificate",
    "certificate_event",
    "filing_application",
    "filing_project",
    "certificate_document",
    "change_request",
    "profile_change",
    "replacement_request",
}


def clear_applications() -> None:
    from flask_appbuilder import Model

    for table in reversed(Model.metadata.sorted_tables):
        if table.name in CASE_TABLES:
            if table.name == "certificate":
                db.session.execute(table.update().values(replaces_id=None))
            db.session.execute(table.delete())
    db.session.commit()


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_state_event_matrix(app, people, kind):
    workflow, spec, ready = REGISTRY[kind], SPECS[kind], READY_APPLICATION[kind]
    mismatches = []
    for state in workflow.states:
        for transition in workflow.transitions:
            for actor in ACTORS:
                clear_applications()
                record = ready(people["owner"], state)
                before_version, before_counts = record.version, counts(record.id, type(record).__name__)
                sources, target, _who = spec[transition.name]
                expected = state in sources and allowed(spec, transition.name, actor)
                try:
                    apply(record, transition.name, people[actor], comment="原因说明")
                    succeeded = True
                except WorkflowError:
                    succeeded = False
                db.session.expire_all()
                record = db.session.get(Application, record.id)
                if succeeded != expected:
                    mismatches.append(
                        f"{state} --{transition.name}--> as {actor}: {'succeeded' if succeeded else 'refused'}"
                    )
                    continue
                if succeeded:
                    ok = record.status == target and record.version == before_version + 1
                    ok = ok and counts(record.id, type(record).__name__) == (before_counts[0] + 1, before_counts[1] + 1)
                else:
                    ok = (
                        record.status == state
                        and record.version == before_version
                        and counts(record.id, type(record).__name__) == before_counts
                    )
                if not ok:
                    mismatches.append(f"{state} --{transition.name}--> as {actor}: wrong effect")
    assert mismatches == []


def test_guards_and_comments(app, people):
    owner, reviewer = people["owner"], people["reviewer"]
    record = make_membership_application(owner.enterprise, status="submitted")
    with pytest.raises(GuardFailed) as excinfo:
        apply(record, "return", reviewer, comment="  ")
    assert excinfo.value.message == "请填写原因"
    record = make_membership_application(make_enterprise_user().enterprise, status="approved")
    with pytest.raises(GuardFailed) as excinfo:
        apply(record, "pay", db.session.get(type(owner), record.enterprise.users[0].id))
    assert "证书发放方式" in excinfo.value.message


def test_refusal_messages_are_chinese(app, people):
    record = make_membership_application(people["owner"].enterprise, status="completed")
    with pytest.raises(WorkflowError) as excinfo:
        apply(record, "approve", people["reviewer"])
    assert "不能执行“通过”" in excinfo.value.message and "入会成功" in excinfo.value.message
    with pytest.raises(WorkflowError) as excinfo:
        apply(record, "approve", people["owner"])
    assert "无权" in excinfo.value.message


def test_stale_version_is_a_conflict(app, people):
    from sqlalchemy import update

    record = make_membership_application(people["owner"].enterprise, status="submitted")
    assert record.version == 1  # loaded now; then another worker changes the row behind our back
    with db.engine.begin() as connection:
        connection.execute(update(Application).where(Application.id == record.id).values(version=2))
    with pytest.raises(Conflict):
        apply(record, "receive", people["reviewer"])
    db.session.expire_all()
    assert db.session.get(Application, record.id).status == "submitted"


def test_confirmation_makes_a_member_once_with_numbers_from_the_pattern(app, people):
    numbers = []
    for _ in range(2):
        owner = make_enterprise_user()
        record = READY_APPLICATION["membership"](owner, "approved")
        apply(record, "pay", owner)
        apply(record, "confirm_payment", people["reviewer"])
        membership = db.session.scalar(select(Membership).where(Membership.application_id == record.id))
        numbers.append(membership.member_number)
        assert (membership.valid_until - membership.valid_from).days in (364, 365)
    year = membership.valid_from.year
    assert numbers == [f"皖安协会[{year}]第0001号", f"皖安协会[{year}]第0002号"]


def test_status_log_and_audit_record_who_when_and_why(app, people):
    record = make_membership_application(people["owner"].enterprise, status="submitted")
    apply(record, "return", people["reviewer"], comment="营业执照不清晰")
    log = db.session.scalar(select(StatusLog).where(StatusLog.application_id == record.id))
    assert (log.from_status, log.to_status, log.comment, log.actor_id) == (
        "submitted",
        "returned",
        "营业执照不清晰",
        people["reviewer"].id,
    )
    entry = db.session.scalar(select(AuditLog).where(AuditLog.object_id == str(record.id)))
    assert entry.action == "transition" and "returned" in entry.after and entry.comment == "营业执照不清晰"


def test_enterprise_is_told_in_app_and_by_sms(app, people):
    owner = people["owner"]
    record = make_membership_application(owner.enterprise, status="submitted")
    apply(record, "return", people["reviewer"], comment="请补充企业简介")
    messages = db.session.scalars(select(Notification).where(Notification.application_id == record.id)).all()
    assert {m.channel for m in messages} == {"inapp", "sms"}
    assert all("请补充企业简介" in m.body for m in messages)
    assert any(m["to"] == owner.phone and m["purpose"] == "notice" for m in outbox(app))


def test_a_failing_sms_gateway_does_not_undo_the_decision(app, people, monkeypatch):
    from app.sms import SmsSendError

    class Broken:
        def send(self, *args):
            raise SmsSendError("gateway down")

    monkeypatch.setattr("app.notify.gateway", lambda: Broken())
    record = make_membership_application(people["owner"].enterprise, status="submitted")
    apply(record, "approve", people["reviewer"])
    db.session.expire_all()
    assert db.session.get(Application, record.id).status == "approved"
    sms = db.session.scalar(select(Notification).where(Notification.channel == "sms"))
    assert sms.result == "failed" and "gateway down" in sms.error


def test_available_drives_the_buttons(app, people):
    record = make_membership_application(people["owner"].enterprise, status="submitted")
    assert {t.name for t, _ in available(record, people["reviewer"])} == {"receive", "approve", "return", "refuse"}
    assert {t.name for t, _ in available(record, people["owner"])} == {"withdraw"}
    assert available(record, people["other_enterprise"]) == []


def test_diagram_is_generated_from_the_table(app):
    text = diagram("membership")
    assert text.startswith("stateDiagram-v2")
    for transition in WORKFLOW.transitions:
        for source in transition.sources:
            assert f"{source} --> {transition.target}" in text
    assert set(REGISTRY) >= {"membership"}


def test_two_reviewers_at_once_exactly_one_wins(_app, tmp_path, database_url):
    """Two workers approve the same application at the same moment."""
    if database_url.startswith("sqlite"):
        pytest.skip("needs a database with row locks: runs on PostgreSQL in CI")
    from conftest import clean_database

    with _app.app_context():
        clean_database()
        record_id = make_membership_application(make_enterprise_user().enterprise, status="received").id
        reviewer_ids = [make_user("Reviewer").id, make_user("Reviewer").id]

    def reviewer_of(app, reviewer_id: int):
        def review(go) -> str:
            with app.app_context():
                from app.models import PlatformUser

                record = db.session.get(Application, record_id)
                reviewer = db.session.get(PlatformUser, reviewer_id)
                _ = record.version, reviewer.roles
                go()
                try:
                    apply(record, "approve", reviewer)
                    return "won"
                except Conflict:
                    return "conflict"

        return review

    apps = separate_apps(2, tmp_path, database_url)
    outcomes = race([reviewer_of(app, rid) for app, rid in zip(apps, reviewer_ids, strict=True)], timeout=30)
    assert sorted(outcomes) == ["conflict", "won"]
    with _app.app_context():
        assert (
            db.session.scalar(select(func.count()).select_from(StatusLog).where(StatusLog.application_id == record_id))
            == 1
        )
        clean_database()


def test_numbers_stay_gapless_under_concurrent_issue(_app, tmp_path, database_url):
    if database_url.startswith("sqlite"):
        pytest.skip("needs a database with row locks: runs on PostgreSQL in CI")
    from app.numbering import next_number
    from conftest import clean_database

    with _app.app_context():
        clean_database()

    def issuer(app):
        def issue(go) -> list[str]:
            with app.app_context():
                go()
                numbers = []
                for _ in range(5):
                    numbers.append(next_number("qualification"))
                    db.session.commit()
                return numbers

        return issue

    results = [
        n for numbers in race([issuer(app) for app in separate_apps(6, tmp_path, database_url)]) for n in numbers
    ]
    sequence = sorted(int(number.split("第")[1].rstrip("号")) for number in results)
    assert sequence == list(range(1, 31))

"""Notifications on every state change (F17): message templates per event with Chinese defaults, edited by
the association (unknown placeholders refused), training steps, and failed SMS retried a bounded number
of times."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from app import clock, db
from app.jobs import run_due
from app.models import Enrollment, MessageTemplate, Notification, TrainingBatch
from app.notify import default_templates, notify_event, seed_templates
from app.settings import seed_defaults
from app.sms import SmsSendError
from app.staff import sign_up
from app.workflows import REGISTRY, apply
from conftest import csrf_token, outbox
from factories import make_batch, make_enterprise_user, make_membership_application, make_user, person

CJK = re.compile(r"[\u4e00-\u9fff]")


def test_every_transition_of_every_type_and_every_training_step_has_a_chinese_template(app):
    events = set(db.session.scalars(select(MessageTemplate.event)))
    for workflow in REGISTRY.values():
        for transition in workflow.transitions:
            assert f"workflow.{workflow.kind}.{transition.name}" in events
    assert {"training.confirm", "training.pass", "training.fail", "training.batch_cancelled"} <= events
    for template in db.session.scalars(select(MessageTemplate)):
        without_placeholders = re.sub(r"\{\w+\}", "", template.subject + template.body + template.description)
        assert CJK.search(template.subject) and CJK.search(template.description), template.event
        assert not re.search(r"[A-Za-z]", without_placeholders), template.event


def test_seeding_never_overwrites_what_the_association_wrote(app):
    template = db.session.scalar(select(MessageTemplate).where(MessageTemplate.event == "training.pass"))
    template.body = "恭喜 {names}！"
    db.session.commit()
    db.session.delete(db.session.scalar(select(MessageTemplate).where(MessageTemplate.event == "training.fail")))
    db.session.commit()
    assert seed_defaults()["templates"] == 1
    assert seed_templates() == 0
    assert (
        db.session.scalar(select(MessageTemplate.body).where(MessageTemplate.event == "training.pass"))
        == "恭喜 {names}！"
    )
    assert len(default_templates()) == db.session.query(MessageTemplate).count()


def test_owner_and_staff_transitions_notify_in_app_and_by_sms(app):
    owner = make_enterprise_user()
    reviewer = make_user("Reviewer")
    record = make_membership_application(owner.enterprise, status="submitted")
    apply(record, "withdraw", owner)  # fired by the enterprise itself: still told
    other = make_membership_application(owner.enterprise, status="submitted")
    apply(other, "receive", reviewer)
    messages = db.session.scalars(select(Notification).order_by(Notification.id)).all()
    assert [(m.channel, m.event) for m in messages] == [
        ("inapp", "workflow.membership.withdraw"),
        ("sms", "workflow.membership.withdraw"),
        ("inapp", "workflow.membership.receive"),
        ("sms", "workflow.membership.receive"),
    ]
    assert messages[2].subject.startswith("入会申请：") and f"编号 {other.id}" in messages[2].body
    assert all(m.result in ("delivered", "sent") for m in messages)


def test_an_edited_template_is_what_the_enterprise_receives_and_a_disabled_one_sends_nothing(app, client, auth):
    owner = make_enterprise_user()
    reviewer = make_user("Reviewer")
    admin = make_user("AssociationAdmin")
    auth.login(admin.username)
    template = db.session.scalar(select(MessageTemplate).where(MessageTemplate.event == "workflow.membership.return"))
    url = f"/backoffice/message-templates/edit/{template.id}"
    page = client.get(url).get_data(as_text=True)
    assert "{enterprise}" in page and "企业名称" in page  # the placeholders are explained
    token = csrf_token(client, url)
    refused = client.post(
        url,
        data={"subject": "{type}：{stat}", "body": "{enterprise} {oops}", "enabled": "y", "csrf_token": token},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "未知的占位符：{stat}" in refused and "未知的占位符：{oops}" in refused
    assert 'name="body"' in refused  # the form again, with what was typed
    db.session.expire_all()
    assert db.session.get(MessageTemplate, template.id).body == default_templates()["workflow.membership.return"][2]
    client.post(
        url,
        data={
            "subject": "{type}被退回",
            "body": "{enterprise}，请修改：{comment}",
            "enabled": "y",
            "csrf_token": token,
        },
    )
    record = make_membership_application(owner.enterprise, status="submitted")
    apply(record, "return", reviewer, comment="营业执照不清晰")
    sms = db.session.scalar(select(Notification).where(Notification.channel == "sms"))
    assert sms.subject == "入会申请被退回"
    assert sms.body == f"{owner.enterprise.name}，请修改：原因：营业执照不清晰"

    client.post(url, data={"subject": "{type}被退回", "body": "{comment}", "csrf_token": token})  # unticked
    db.session.expire_all()
    assert db.session.get(MessageTemplate, template.id).enabled is False
    again = make_membership_application(owner.enterprise, status="submitted")
    apply(again, "return", reviewer, comment="再次退回")
    assert db.session.scalar(select(Notification).where(Notification.application_id == again.id)) is None


def test_message_templates_are_for_the_association_admin_only(app, client, auth):
    template_id = db.session.scalar(select(MessageTemplate.id).limit(1))
    reviewer = make_user("Reviewer")
    auth.login(reviewer.username)
    assert client.get(f"/backoffice/message-templates/edit/{template_id}").status_code in (302, 403)
    auth.logout()
    owner = make_enterprise_user()
    auth.login(owner.username)
    assert client.get("/backoffice/message-templates/list/").status_code in (302, 403)


def test_training_steps_tell_each_enterprise_once_naming_its_people(app, client, auth):
    first, second = make_enterprise_user(), make_enterprise_user()
    batch = make_batch(starts_on=clock.today() - dt.timedelta(days=1))
    sign_up(batch.id, first.enterprise_id, [(2, person(60)), (3, person(61))])
    sign_up(batch.id, second.enterprise_id, [(2, person(62))])
    reviewer = make_user("Reviewer")
    auth.login(reviewer.username)
    ids = [e.id for e in db.session.scalars(select(Enrollment).order_by(Enrollment.id))]
    token = csrf_token(client, "/backoffice/training/")
    act = f"/backoffice/training/{batch.id}/act"
    client.post(act, data={"action": "confirm", "ids": ids, "csrf_token": token})
    client.post(act, data={"action": "pass", "ids": ids[:1], "csrf_token": token})
    client.post(act, data={"action": "fail", "ids": ids[1:], "csrf_token": token})
    names = [person(60)["name"], person(61)["name"], person(62)["name"]]

    def inbox(user):
        return db.session.execute(
            select(Notification.event, Notification.body)
            .where(Notification.user_id == user.id, Notification.channel == "inapp")
            .order_by(Notification.id)
        ).all()

    first_inbox = inbox(first)
    assert [event for event, _ in first_inbox] == ["training.confirm", "training.pass", "training.fail"]
    assert f"{names[0]}、{names[1]}" in first_inbox[0].body and batch.name in first_inbox[0].body
    assert names[0] in first_inbox[1].body and names[1] in first_inbox[2].body
    assert [event for event, _ in inbox(second)] == ["training.confirm", "training.fail"]
    assert names[2] in inbox(second)[1].body and names[0] not in inbox(second)[1].body


def test_a_cancelled_batch_tells_the_enterprises_signed_up(app, client, auth):
    owner, bystander = make_enterprise_user(), make_enterprise_user()
    batch = make_batch()
    sign_up(batch.id, owner.enterprise_id, [(2, person(70))])
    admin = make_user("AssociationAdmin")
    auth.login(admin.username)
    url = f"/backoffice/training/batches/edit/{batch.id}"
    token = csrf_token(client, url)
    form = {
        "name": batch.name,
        "notice": batch.notice,
        "starts_on": batch.starts_on.isoformat(),
        "ends_on": batch.ends_on.isoformat(),
        "place": batch.place,
        "capacity": "50",
        "fee": "800",
        "signup_opens_on": batch.signup_opens_on.isoformat(),
        "signup_closes_on": batch.signup_closes_on.isoformat(),
        "status": "closed",
        "csrf_token": token,
    }
    client.post(url, data=form)
    assert db.session.scalar(select(Notification)) is None  # closing sign-up is not a cancellation
    client.post(url, data={**form, "status": "cancelled"})
    client.post(url, data={**form, "status": "cancelled"})  # saved again: told once
    db.session.expire_all()
    assert db.session.get(TrainingBatch, batch.id).status == "cancelled"
    messages = db.session.scalars(select(Notification).where(Notification.channel == "inapp")).all()
    assert [(m.enterprise_id, m.event) for m in messages] == [(owner.enterprise_id, "training.batch_cancelled")]
    assert person(70)["name"] in messages[0].body and "已取消" in messages[0].subject
    assert not db.session.scalars(
        select(Notification).where(Notification.enterprise_id == bystander.enterprise_id)
    ).all()


class Gateway:
    """An SMS gateway that fails while `down`."""

    def __init__(self):
        self.down = True
        self.sent: list[str] = []

    def send(self, to, text, purpose, code):
        if self.down:
            raise SmsSendError("gateway down")
        self.sent.append(to)


def test_a_failed_sms_is_retried_a_bounded_number_of_times_and_stays_visible(app, monkeypatch):
    gateway = Gateway()
    monkeypatch.setattr("app.notify.gateway", lambda: gateway)
    owner = make_enterprise_user()
    notify_event("certificate.expired", owner.enterprise_id, type="资质证书", number="X-1", date="2027-01-01")
    sms = db.session.scalar(select(Notification).where(Notification.channel == "sms"))
    assert (sms.result, sms.attempts) == ("failed", 1)

    at = dt.datetime(2030, 1, 1, 0, 0)
    for minutes in (0, 15, 30, 45):  # attempts 2 and 3, then no more (jobs.sms_retry_attempts = 3)
        run = run_due("sms_retry", now=at + dt.timedelta(minutes=minutes))
        assert run.result == "ok"
    db.session.expire_all()
    sms = db.session.get(Notification, sms.id)
    assert (sms.result, sms.attempts, sms.error) == ("failed", 3, "gateway down")
    assert gateway.sent == []

    notify_event("certificate.expired", owner.enterprise_id, type="资质证书", number="X-2", date="2027-01-01")
    gateway.down = False
    run = run_due("sms_retry", now=at + dt.timedelta(minutes=60))
    assert run.counts == '{"retried": 1, "sent": 1, "failed": 0}'
    db.session.expire_all()
    retried = db.session.scalars(
        select(Notification).where(Notification.channel == "sms").order_by(Notification.id)
    ).all()
    assert [(m.result, m.attempts) for m in retried] == [("failed", 3), ("sent", 2)]
    assert gateway.sent == [owner.phone]
    assert outbox(app) == []  # the test gateway, not the development outbox

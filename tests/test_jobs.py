"""Scheduled jobs (F18): reminders at each threshold exactly once, expiry marking on the day, one run per
slot however many schedulers, the 定时任务 page and `flask jobs`."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from sqlalchemy import func, select

from app import clock, db
from app.jobs import JOBS, Schedule, annual_review_reminders, catch_up, expiry_reminders, mark_expired, run_due
from app.models import (
    Certificate,
    CertificateEvent,
    JobRun,
    Membership,
    MemberTier,
    Notification,
    ReminderSent,
    WizardDraft,
)
from app.qualification import CHINA
from conftest import csrf_token
from factories import make_certificate, make_enterprise_user, make_user


def at(day: dt.date, hour: int = 9):
    """Travel to `day` at `hour` o'clock Beijing time (the clock stands still)."""
    return time_machine.travel(dt.datetime.combine(day, dt.time(hour), tzinfo=CHINA), tick=False)


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def told(enterprise_id: int, channel: str = "inapp") -> list[str]:
    return db.session.scalars(
        select(Notification.subject)
        .where(Notification.enterprise_id == enterprise_id, Notification.channel == channel)
        .order_by(Notification.id)
    ).all()


START = dt.date(2027, 1, 1)


def test_expiry_reminders_at_each_threshold_exactly_once(app):
    owner = make_enterprise_user()
    with at(START):
        certificate = make_certificate(owner.enterprise, valid_from=START, years=1)  # valid until 2027-12-31
    expires = certificate.valid_until
    expected = {
        100: 0,  # not yet
        90: 1,
        89: 0,
        45: 0,
        30: 1,
        29: 0,
        7: 1,
        6: 0,
        1: 0,
    }
    for days_left, sent in expected.items():
        with at(expires - dt.timedelta(days=days_left)):
            first = expiry_reminders()
            again = expiry_reminders()  # the same day once more: nothing new
        assert first["certificates"] == sent, days_left
        assert again["certificates"] == 0
    thresholds = db.session.scalars(select(ReminderSent.threshold).order_by(ReminderSent.id)).all()
    assert thresholds == ["90", "30", "7"]
    subjects = told(owner.enterprise_id)
    assert subjects == ["证书即将到期"] * 3
    bodies = db.session.scalars(select(Notification.body).where(Notification.channel == "sms")).all()
    assert len(bodies) == 3 and f"编号 {certificate.number}" in bodies[0] and "还剩 90 天" in bodies[0]
    assert "资质证书" in bodies[0] and expires.isoformat() in bodies[-1]


def test_a_run_missed_for_days_sends_the_nearest_threshold_only(app):
    owner = make_enterprise_user()
    with at(START):
        certificate = make_certificate(owner.enterprise, valid_from=START, years=1)
    with at(certificate.valid_until - dt.timedelta(days=5)):
        assert expiry_reminders()["certificates"] == 1
    assert db.session.scalars(select(ReminderSent.threshold)).all() == ["7"]


def grant_membership(owner, on: dt.date) -> Membership:
    from app.memberships import grant

    tier = db.session.scalar(select(MemberTier).order_by(MemberTier.sort_order))
    with at(on):
        membership = grant(owner.enterprise_id, tier.id, tier.annual_fee)
        db.session.commit()
    return membership


def test_membership_reminders_and_renewed_memberships(app):
    owner, renewed = make_enterprise_user(), make_enterprise_user()
    membership = grant_membership(owner, START)
    grant_membership(renewed, START)
    grant_membership(renewed, START + dt.timedelta(days=300))  # renewed early: the older one needs no reminder
    with at(membership.valid_until - dt.timedelta(days=30)):
        assert expiry_reminders() == {"certificates": 0, "memberships": 1}
        assert expiry_reminders() == {"certificates": 0, "memberships": 0}
    assert told(owner.enterprise_id) == ["会员资格即将到期"]
    assert told(renewed.enterprise_id) == []
    body = db.session.scalar(select(Notification.body).where(Notification.channel == "inapp"))
    assert membership.member_number in body and "还剩 30 天" in body


def test_expiry_is_marked_on_the_day_after_the_last_valid_day(app):
    owner = make_enterprise_user()
    with at(START):
        certificate = make_certificate(owner.enterprise, valid_from=START, years=1)
    membership = grant_membership(owner, START)
    last_day = certificate.valid_until
    assert membership.valid_until == last_day
    with at(last_day, 23):
        assert mark_expired() == {"certificates": 0, "memberships": 0}
    with at(last_day + dt.timedelta(days=1), 0):
        # the qualification certificate and the membership's certificate; the membership itself
        assert mark_expired() == {"certificates": 2, "memberships": 1}
        assert mark_expired() == {"certificates": 0, "memberships": 0}
    db.session.expire_all()
    assert db.session.get(Certificate, certificate.id).status == "expired"
    assert db.session.get(Membership, membership.id).status == "expired"
    event = db.session.scalar(
        select(CertificateEvent).where(
            CertificateEvent.certificate_id == certificate.id, CertificateEvent.event == "expired"
        )
    )
    assert event.from_status == "valid" and event.to_status == "expired"
    assert told(owner.enterprise_id) == ["证书已到期", "会员资格已到期"]


def test_annual_review_window_opening_is_told_once_per_certificate_year(app):
    owner = make_enterprise_user()
    with at(START):
        certificate = make_certificate(owner.enterprise, valid_from=START, years=3)
    anniversary = START.replace(year=START.year + 1)
    with at(anniversary - dt.timedelta(days=31)):  # the window opens 30 days before (RULES.md default)
        assert annual_review_reminders() == {"reminders": 0}
    with at(anniversary - dt.timedelta(days=30)):
        assert annual_review_reminders() == {"reminders": 1}
        assert annual_review_reminders() == {"reminders": 0}
    with at(anniversary + dt.timedelta(days=10)):
        assert annual_review_reminders() == {"reminders": 0}
    with at(anniversary.replace(year=anniversary.year + 1) - dt.timedelta(days=20)):
        assert annual_review_reminders() == {"reminders": 1}  # the second certificate year
    with at(START.replace(year=START.year + 3) - dt.timedelta(days=20)):
        assert annual_review_reminders() == {"reminders": 0}  # the third anniversary is the expiry: 到期换证
    assert db.session.scalars(select(ReminderSent.threshold).order_by(ReminderSent.id)).all() == [
        "annual:1",
        "annual:2",
    ]
    body = db.session.scalar(select(Notification.body).where(Notification.channel == "inapp"))
    assert certificate.number in body and (anniversary + dt.timedelta(days=60)).isoformat() in body


def test_slots_are_computed_in_beijing_time(app):
    daily = Schedule("daily", "jobs.reminders_at")  # 08:00
    # 07:30 in Beijing on 2 March is before the day's slot: the slot is 1 March 08:00 (00:00 UTC)
    assert daily.latest_slot(dt.datetime(2027, 3, 1, 23, 30)) == dt.datetime(2027, 3, 1, 0, 0)
    assert daily.latest_slot(dt.datetime(2027, 3, 2, 0, 0)) == dt.datetime(2027, 3, 2, 0, 0)
    every = Schedule("every", "jobs.sms_retry_minutes")  # 15
    assert every.latest_slot(dt.datetime(2027, 3, 1, 10, 44, 59)) == dt.datetime(2027, 3, 1, 10, 30)
    assert daily.describe() == "每天 08:00（北京时间）"


def test_a_slot_runs_once_and_a_missed_run_is_caught_up_once_on_start(app):
    now = dt.datetime(2027, 3, 1, 5, 0)  # 13:00 in Beijing: today's 08:00 reminders slot has passed
    first = run_due("expiry_reminders", now=now)
    assert first is not None and first.result == "ok" and first.scheduled_for == dt.datetime(2027, 3, 1, 0, 0)
    assert run_due("expiry_reminders", now=now) is None  # a second scheduler reaching the same slot
    caught = catch_up(now)
    assert {run.job for run in caught} == set(JOBS) - {"expiry_reminders"}
    assert all(run.trigger == "catch_up" and run.result == "ok" for run in caught)
    assert catch_up(now) == []  # started again: nothing missed any more
    assert count(JobRun) == len(JOBS)


def test_a_slot_left_running_by_a_dead_process_is_taken_over_once(app):
    now = dt.datetime(2027, 3, 1, 5, 0)
    slot = JOBS["purge_wizard_drafts"].schedule.latest_slot(now)
    db.session.add(JobRun(job="purge_wizard_drafts", scheduled_for=slot, trigger="schedule", started_on=now))
    db.session.commit()
    assert run_due("purge_wizard_drafts", now=now) is None  # still running elsewhere, as far as anyone knows
    with time_machine.travel(dt.datetime(2027, 3, 1, 8, 0, tzinfo=dt.UTC), tick=False):
        assert [run.job for run in catch_up(now) if run.job == "purge_wizard_drafts"] == ["purge_wizard_drafts"]
        assert run_due("purge_wizard_drafts", now=now) is None  # finished now: nothing left to take over
    run = db.session.scalar(select(JobRun).where(JobRun.job == "purge_wizard_drafts"))
    assert (run.result, run.trigger) == ("ok", "catch_up")
    assert count(JobRun, JobRun.job == "purge_wizard_drafts") == 1


def test_a_failing_job_is_recorded_as_failed(app, monkeypatch):
    def broken():
        raise RuntimeError("disk full")

    from dataclasses import replace

    monkeypatch.setitem(JOBS, "purge_sms_codes", replace(JOBS["purge_sms_codes"], run=broken))
    run = run_due("purge_sms_codes")
    assert run.result == "failed" and "disk full" in run.error and run.finished_on is not None


def test_purges(app):
    from app.models import utcnow

    old = WizardDraft(token="old", kind="register", step=1, expires_on=utcnow() - dt.timedelta(days=2))
    fresh = WizardDraft(token="fresh", kind="register", step=1, expires_on=utcnow() + dt.timedelta(minutes=5))
    db.session.add_all([old, fresh])
    db.session.commit()
    run = run_due("purge_wizard_drafts")
    assert run.result == "ok" and run.counts == '{"deleted": 1}'
    assert db.session.scalars(select(WizardDraft.token)).all() == ["fresh"]


def test_jobs_page_admin_runs_one_reviewer_reads_enterprise_is_refused(app, client, auth):
    admin = make_user("AssociationAdmin")
    auth.login(admin.username)
    page = client.get("/backoffice/jobs/").get_data(as_text=True)
    assert "定时任务" in page and "到期提醒" in page and "每天 08:00（北京时间）" in page and "立即执行" in page
    token = csrf_token(client, "/backoffice/jobs/")
    assert client.post("/backoffice/jobs/run", data={"job": "purge_sms_codes"}).status_code == 400  # no CSRF token
    response = client.post(
        "/backoffice/jobs/run", data={"job": "purge_sms_codes", "csrf_token": token}, follow_redirects=True
    )
    page = response.get_data(as_text=True)
    assert "已执行" in page and "手动执行" in page and "成功" in page
    run = db.session.scalar(select(JobRun))
    assert (run.job, run.trigger, run.actor_id) == ("purge_sms_codes", "manual", admin.id)
    auth.logout()

    reviewer = make_user("Reviewer")
    auth.login(reviewer.username)
    page = client.get("/backoffice/jobs/").get_data(as_text=True)
    assert "定时任务" in page and "立即执行" not in page
    token = csrf_token(client, "/backoffice/jobs/")
    client.post("/backoffice/jobs/run", data={"job": "purge_sms_codes", "csrf_token": token})
    assert count(JobRun) == 1
    auth.logout()

    owner = make_enterprise_user()
    auth.login(owner.username)
    assert client.get("/backoffice/jobs/").status_code in (302, 403)


def test_flask_jobs_list_and_run(app):
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["jobs", "list"])
    assert listed.exit_code == 0 and "expiry_reminders" in listed.output and "sms_retry" in listed.output
    ran = runner.invoke(args=["jobs", "run", "purge_wizard_drafts"])
    assert ran.exit_code == 0 and "ok" in ran.output
    assert runner.invoke(args=["jobs", "run", "nothing"]).exit_code == 2
    assert count(JobRun, JobRun.job == "purge_wizard_drafts", JobRun.trigger == "manual") == 1


def test_two_schedulers_on_one_database_run_a_slot_once(_app, tmp_path, database_url):
    if database_url.startswith("sqlite"):
        pytest.skip("needs concurrent writers: runs on PostgreSQL in CI")
    from concurrency import race, separate_apps
    from conftest import clean_database

    with _app.app_context():
        clean_database()
        owner = make_enterprise_user()
        make_certificate(owner.enterprise, valid_from=clock.today() - dt.timedelta(days=300), years=1)
        enterprise_id = owner.enterprise_id
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)

    def scheduler(app):
        def start(go):
            with app.app_context():
                go()
                return [run.job for run in catch_up(now)]

        return start

    try:
        ran = race([scheduler(app) for app in separate_apps(2, tmp_path, database_url)], timeout=60)
        assert sorted(ran[0] + ran[1]) == sorted(JOBS)  # every job's slot ran in exactly one of them
        with _app.app_context():
            assert count(JobRun) == len(JOBS)
            assert count(ReminderSent) == 1
            assert told(enterprise_id) == ["证书即将到期"]
    finally:
        with _app.app_context():
            clean_database()


def test_a_failed_run_is_told_in_chinese_on_the_page_and_in_full_by_the_cli(app, client, auth, monkeypatch):
    from dataclasses import replace

    from factories import make_user

    def broken():
        raise RuntimeError("disk full")

    monkeypatch.setitem(JOBS, "purge_sms_codes", replace(JOBS["purge_sms_codes"], run=broken))
    run = run_due("purge_sms_codes")
    auth.login(make_user("AssociationAdmin").username)
    page = client.get("/backoffice/jobs/").get_data(as_text=True)
    assert f"执行出错，请系统管理员查看服务器日志（运行记录 #{run.id}）" in page and "disk full" not in page
    assert "执行失败" in page and "不合格" not in page  # a job's failure, not a training result
    output = app.test_cli_runner().invoke(args=["jobs", "list"]).output
    assert f"run #{run.id}: RuntimeError: disk full" in output

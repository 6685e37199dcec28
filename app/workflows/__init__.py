"""Review workflow engine: one declarative transition table per application type and one `apply()`.

`apply()` checks who may fire the transition (a FAB permission, or the owning enterprise), the
tenant scope and the guards; moves the state with a compare-and-set UPDATE (exactly one row, or
Conflict); writes the status log, the audit row and runs the effects in the same transaction; and
sends notifications only after the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import update

from .. import audit, db
from ..models import Application, StatusLog, utcnow
from ..scoping import is_association_user, is_enterprise_user

log = logging.getLogger(__name__)

# Every state any workflow uses: label and Bootstrap badge colour.
STATES: dict[str, tuple[Any, str]] = {
    "draft": (_l("Draft"), "default"),
    "submitted": (_l("Submitted"), "info"),
    "received": (_l("Received"), "primary"),
    "approved": (_l("Approved"), "success"),
    "returned": (_l("Returned"), "warning"),
    "refused": (_l("Refused"), "danger"),
    "withdrawn": (_l("Withdrawn"), "default"),
    "payment_submitted": (_l("Paid, awaiting confirmation"), "info"),
    "payment_returned": (_l("Payment returned"), "warning"),
    "completed": (_l("Membership completed"), "success"),
}

Guard = Callable[[Any, Any], "str | None"]
Effect = Callable[[Any, Any, "TransitionContext"], None]


class WorkflowError(Exception):
    """A refused transition; `message` is for the user, `status` for HTTP."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Forbidden(WorkflowError):
    status = 403


class InvalidTransition(WorkflowError):
    status = 409


class GuardFailed(WorkflowError):
    status = 400


class Conflict(WorkflowError):
    status = 409


@dataclass(frozen=True)
class Transition:
    name: str
    sources: tuple[str, ...]
    target: str
    label: Any
    permission: str | None = None  # FAB permission on the workflow's permission view
    owner_only: bool = False  # fired by the owning enterprise instead
    guards: tuple[Guard, ...] = ()
    needs_comment: bool = False
    effects: tuple[Effect, ...] = ()
    notify: Any = None  # subject of the message the enterprise gets, or None
    style: str = "primary"


@dataclass
class Workflow:
    kind: str
    label: Any
    model: type
    permission_view: str
    transitions: tuple[Transition, ...]
    initial: str = "draft"
    editable_states: tuple[str, ...] = ("draft", "submitted", "returned")
    final_states: tuple[str, ...] = ("refused", "withdrawn", "completed")
    by_name: dict[str, Transition] = field(init=False)

    def __post_init__(self) -> None:
        self.by_name = {t.name: t for t in self.transitions}

    @property
    def states(self) -> list[str]:
        seen = [self.initial]
        for t in self.transitions:
            for state in (*t.sources, t.target):
                if state not in seen:
                    seen.append(state)
        return seen

    @property
    def permissions(self) -> list[str]:
        return sorted({t.permission for t in self.transitions if t.permission})


@dataclass
class TransitionContext:
    transition: Transition
    from_status: str
    comment: str | None
    log: StatusLog


REGISTRY: dict[str, Workflow] = {}


def register(workflow: Workflow) -> Workflow:
    REGISTRY[workflow.kind] = workflow
    return workflow


def workflow_for(record: Application) -> Workflow:
    return REGISTRY[record.kind]


def state_label(state: str) -> str:
    return str(STATES.get(state, (state, "default"))[0])


def state_colour(state: str) -> str:
    return STATES.get(state, (state, "default"))[1]


def _has_permission(user: Any, permission: str, view: str) -> bool:
    role_ids = [role.id for role in getattr(user, "roles", [])]
    return bool(role_ids) and current_app.appbuilder.sm.exist_permission_on_roles(view, permission, role_ids)


def may_fire(workflow: Workflow, transition: Transition, record: Application, user: Any) -> bool:
    """Who may fire it: the owning enterprise, or association staff holding the permission."""
    if user is None:
        return False
    if transition.owner_only:
        return is_enterprise_user(user) and user.enterprise_id == record.enterprise_id
    return is_association_user(user) and _has_permission(user, transition.permission, workflow.permission_view)


def available(record: Application, user: Any) -> list[tuple[Transition, str | None]]:
    """Transitions this user may fire now, each with the guard's reason when it would be refused."""
    workflow = workflow_for(record)
    result = []
    for transition in workflow.transitions:
        if record.status in transition.sources and may_fire(workflow, transition, record, user):
            reason = next((r for r in (guard(record, user) for guard in transition.guards) if r), None)
            result.append((transition, reason))
    return result


def can_edit(record: Application, user: Any) -> bool:
    """The owner edits its application only while the workflow allows (never after 已接收)."""
    workflow = workflow_for(record)
    return (
        record.status in workflow.editable_states
        and is_enterprise_user(user)
        and user.enterprise_id == record.enterprise_id
    )


_STAMPS = {"submitted": "submitted_on", "received": "received_on"}
_DECISIONS = {"approved", "refused", "completed"}


def apply(
    record: Application, name: str, actor: Any, comment: str | None = None, expected_version: int | None = None
) -> StatusLog:
    """Fire transition `name` on `record` as `actor`; refuse with a WorkflowError or commit it all.

    `expected_version` is the version the actor's page showed: if the application changed since
    (the enterprise edited it, another reviewer acted), the action is refused as a Conflict.
    """
    workflow = workflow_for(record)
    transition = workflow.by_name.get(name)
    if transition is None:
        raise InvalidTransition(_("Unknown action"))
    if not may_fire(workflow, transition, record, actor):
        raise Forbidden(_("You may not perform “%(action)s” on this application", action=transition.label))
    current = record.status
    if current not in transition.sources:
        raise InvalidTransition(
            _(
                "“%(action)s” is not possible while the application is “%(state)s”",
                action=transition.label,
                state=state_label(current),
            )
        )
    comment = (comment or "").strip() or None
    if transition.needs_comment and not comment:
        raise GuardFailed(_("Please give the reason"))
    for guard in transition.guards:
        reason = guard(record, actor)
        if reason:
            raise GuardFailed(reason)

    now = utcnow()
    values: dict[str, Any] = {"status": transition.target, "version": Application.version + 1, "changed_on": now}
    if transition.target in _STAMPS:
        values[_STAMPS[transition.target]] = now
    if transition.target in _DECISIONS:
        values.update(decided_on=now, decided_by_id=actor.id)
    moved = db.session.execute(
        update(Application)
        .where(
            Application.id == record.id,
            Application.status == current,
            Application.version == (record.version if expected_version is None else expected_version),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        db.session.rollback()
        raise Conflict(_("This application has just been changed by someone else; please reload the page"))
    entry = StatusLog(
        application_id=record.id,
        transition=transition.name,
        from_status=current,
        to_status=transition.target,
        actor_id=actor.id,
        actor_name=audit.actor_name(actor),
        comment=comment,
        ip=audit.client_ip(),
        at=now,
    )
    db.session.add(entry)
    audit.record(
        "transition",
        workflow.model.__name__,
        record.id,
        before={"status": current},
        after={"status": transition.target, "transition": transition.name},
        comment=comment,
        actor=actor,
    )
    context = TransitionContext(transition, current, comment, entry)
    try:
        for effect in transition.effects:
            effect(record, actor, context)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    db.session.refresh(record)
    if transition.notify:
        _notify_after_commit(record, workflow, transition, comment)
    return entry


def _notify_after_commit(record: Application, workflow: Workflow, transition: Transition, comment: str | None) -> None:
    from ..notify import notify_enterprise

    subject = _("%(type)s: %(event)s", type=workflow.label, event=transition.notify)
    body = _("Your application No. %(id)s is now “%(state)s”.", id=record.id, state=state_label(record.status))
    if comment:
        body += " " + _("Reason: %(comment)s", comment=comment)
    try:
        notify_enterprise(record.enterprise_id, subject, body, application_id=record.id)
    except Exception:  # a failed message must never undo or hide the committed decision
        log.exception("notifying enterprise %s about application %s failed", record.enterprise_id, record.id)
        db.session.rollback()


def claim_for_change(record: Application, states: tuple[str, ...], expected_version: int | None = None) -> None:
    """Before the owner changes an application's data outside a transition (edit, delivery choice):
    bump its version if it is still in one of `states`, so the change and any concurrent review
    action on the old data cannot both succeed. Raises Conflict otherwise; the caller commits.
    """
    version = record.version if expected_version is None else expected_version
    claimed = db.session.execute(
        update(Application)
        .where(Application.id == record.id, Application.version == version, Application.status.in_(states))
        .values(version=version + 1, changed_on=utcnow())
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        db.session.rollback()
        raise Conflict(_("This application has just been changed by someone else; please reload the page"))
    db.session.expire(record, ["version", "changed_on"])


def diagram(kind: str) -> str:
    """Mermaid state diagram generated from the transition table."""
    workflow = REGISTRY[kind]
    lines = ["stateDiagram-v2", f"    [*] --> {workflow.initial}"]
    for state in workflow.states:
        lines.append(f"    {state} : {state_label(state)}")
    for t in workflow.transitions:
        who = _("enterprise") if t.owner_only else _("association")
        for source in t.sources:
            lines.append(f"    {source} --> {t.target} : {t.label}（{who}）")
    for state in workflow.final_states:
        lines.append(f"    {state} --> [*]")
    return "\n".join(lines)

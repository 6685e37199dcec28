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
from ..exceptions import UserError
from ..models import Application, StatusLog, utcnow
from ..scoping import is_association_user, is_enterprise_user

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class State:
    """A state's label and Bootstrap badge colour."""

    label: Any
    colour: str = "default"


# States most workflows share; a workflow adds its own and may relabel these.
DEFAULT_STATES: dict[str, State] = {
    "draft": State(_l("Draft")),
    "submitted": State(_l("Submitted"), "info"),
    "received": State(_l("Received"), "primary"),
    "approved": State(_l("Approved"), "success"),
    "returned": State(_l("Returned"), "warning"),
    "refused": State(_l("Refused"), "danger"),
    "withdrawn": State(_l("Withdrawn")),
}

Guard = Callable[[Any, Any], "str | None"]
Effect = Callable[[Any, Any, "TransitionContext"], None]


class WorkflowError(UserError):
    """A refused transition; `message` is for the user, `status` for HTTP."""


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
    notify: Any = None  # what the default message template says happened (default: the label)
    style: str = "primary"
    decides: bool = False  # records decided_on / decided_by (approval, refusal, completion)
    stamps: str | None = None  # Application time column set when it fires (submitted_on, received_on)
    bare: bool = False  # the owner fires it with a plain button (no data of its own to send)


@dataclass
class Workflow:
    """One application type: its model, states, transition table and how its pages show it."""

    kind: str
    label: Any
    model: type
    permission_view: str
    transitions: tuple[Transition, ...]
    state_labels: dict[str, State] = field(default_factory=dict)  # added to / overriding DEFAULT_STATES
    initial: str = "draft"
    editable_states: tuple[str, ...] = ("draft", "submitted", "returned")
    final_states: tuple[str, ...] = ("refused", "withdrawn")
    fields_template: str = ""  # the application's data, shown by the portal and the review pages alike
    portal_endpoint: str = ""  # the portal view's detail endpoint
    menu_icon: str = "fa-file-text-o"
    queue_label: Any = None  # the review queue's menu label (default: the workflow's label)
    # What the fields template needs beside the record (portal detail and review page alike).
    context: Callable[[Any], dict[str, Any]] | None = None
    by_name: dict[str, Transition] = field(init=False)
    vocabulary: dict[str, State] = field(init=False)

    def __post_init__(self) -> None:
        self.by_name = {t.name: t for t in self.transitions}
        self.vocabulary = {**DEFAULT_STATES, **self.state_labels}
        unknown = [s for s in self.states if s not in self.vocabulary]
        if unknown:
            raise ValueError(f"workflow {self.kind}: no label for states {unknown}")

    @property
    def states(self) -> list[str]:
        seen = [self.initial]
        for t in self.transitions:
            for state in (*t.sources, t.target):
                if state not in seen:
                    seen.append(state)
        return seen

    @property
    def open_states(self) -> list[str]:
        return [s for s in self.states if s not in self.final_states]

    @property
    def waiting_states(self) -> list[str]:
        """States in which the association has to act: the sources of staff transitions."""
        staff = {s for t in self.transitions if not t.owner_only for s in t.sources}
        return [s for s in self.states if s in staff]

    @property
    def permissions(self) -> list[str]:
        return sorted({t.permission for t in self.transitions if t.permission} | {QUEUE_PERMISSION})

    @property
    def queue_menu(self) -> str:
        """FAB menu name of this workflow's review queue link."""
        return f"{self.permission_view}Queue"

    def label_of(self, state: str) -> str:
        entry = self.vocabulary.get(state)
        return str(entry.label) if entry else state

    def colour_of(self, state: str) -> str:
        entry = self.vocabulary.get(state)
        return entry.colour if entry else "default"

    def fields_context(self, record: Any) -> dict[str, Any]:
        return self.context(record) if self.context else {}

    def bare_transitions(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.transitions if t.bare)


# Seeing a workflow's queue and applications needs this permission on its permission view.
QUEUE_PERMISSION = "can_review"


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


def _workflow_of(kind: Any) -> Workflow | None:
    if isinstance(kind, Workflow):
        return kind
    return REGISTRY.get(kind) if kind else None


def state_label(state: str, kind: Any = None) -> str:
    """A state's label in the workflow `kind` (a kind string or a Workflow)."""
    workflow = _workflow_of(kind)
    if workflow is not None:
        return workflow.label_of(state)
    entry = DEFAULT_STATES.get(state)
    return str(entry.label) if entry else state


def state_colour(state: str, kind: Any = None) -> str:
    workflow = _workflow_of(kind)
    if workflow is not None:
        return workflow.colour_of(state)
    entry = DEFAULT_STATES.get(state)
    return entry.colour if entry else "default"


def _has_permission(user: Any, permission: str, view: str) -> bool:
    role_ids = [role.id for role in getattr(user, "roles", [])]
    return bool(role_ids) and current_app.appbuilder.sm.exist_permission_on_roles(view, permission, role_ids)


def may_review(workflow: Workflow, user: Any) -> bool:
    """Association staff holding the workflow's queue permission see its queue and applications."""
    return is_association_user(user) and _has_permission(user, QUEUE_PERMISSION, workflow.permission_view)


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
                state=workflow.label_of(current),
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
    if transition.stamps:
        values[transition.stamps] = now
    if transition.decides:
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
    _notify_after_commit(record, workflow, transition, comment)
    return entry


def _notify_after_commit(record: Application, workflow: Workflow, transition: Transition, comment: str | None) -> None:
    """Every transition of every type tells the enterprise, in the words of its message template
    (`workflow.<kind>.<transition>`, edited in 消息模板; a disabled template sends nothing)."""
    from ..notify import notify_event, workflow_event

    try:
        notify_event(
            workflow_event(workflow.kind, transition.name),
            record.enterprise_id,
            application_id=record.id,
            type=workflow.label,
            event=transition.notify or transition.label,
            state=workflow.label_of(record.status),
            number=record.id,
            date=record.changed_on.date().isoformat() if record.changed_on else "",
            comment=_("Reason: %(comment)s", comment=comment) if comment else "",
        )
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
        lines.append(f"    {state} : {workflow.label_of(state)}")
    for t in workflow.transitions:
        who = _("enterprise") if t.owner_only else _("association")
        for source in t.sources:
            lines.append(f"    {source} --> {t.target} : {t.label}（{who}）")
    for state in workflow.final_states:
        lines.append(f"    {state} --> [*]")
    return "\n".join(lines)


# --- The transitions most types share -------------------------------------------------------------


def owner_transitions(
    *,
    submit_guards: tuple[Guard, ...],
    resubmit_guards: tuple[Guard, ...],
    submit_effects: tuple[Effect, ...] = (),
    resubmit_bare: bool = False,
    withdraw_from: tuple[str, ...] = ("submitted", "returned"),
) -> tuple[Transition, ...]:
    """提交申请 (draft → submitted), 再次提交 after a return, 撤回 — fired by the owning enterprise."""
    return (
        Transition(
            "submit",
            ("draft",),
            "submitted",
            _l("Submit application"),
            owner_only=True,
            guards=submit_guards,
            effects=submit_effects,
            stamps="submitted_on",
        ),
        Transition(
            "resubmit",
            ("returned",),
            "submitted",
            _l("Submit again"),
            owner_only=True,
            guards=resubmit_guards,
            effects=submit_effects,
            stamps="submitted_on",
            bare=resubmit_bare,
        ),
        Transition("withdraw", withdraw_from, "withdrawn", _l("Withdraw"), owner_only=True, style="default", bare=True),
    )


def review_transitions(
    *, approved_notice: Any, approve_effects: tuple[Effect, ...] = (), approve_guards: tuple[Guard, ...] = ()
) -> tuple[Transition, ...]:
    """接收, 通过, 退回 (with a reason) and 不予通过 (with a reason) — fired by association staff."""
    return (
        Transition(
            "receive",
            ("submitted",),
            "received",
            _l("Receive"),
            permission="can_receive",
            notify=_l("materials received"),
            stamps="received_on",
        ),
        Transition(
            "approve",
            ("submitted", "received"),
            "approved",
            _l("Approve"),
            permission="can_approve",
            guards=approve_guards,
            effects=approve_effects,
            notify=approved_notice,
            style="success",
            decides=True,
        ),
        Transition(
            "return",
            ("submitted", "received"),
            "returned",
            _l("Return"),
            permission="can_return",
            needs_comment=True,
            notify=_l("returned for changes"),
            style="warning",
        ),
        Transition(
            "refuse",
            ("submitted", "received"),
            "refused",
            _l("Refuse"),
            permission="can_refuse",
            needs_comment=True,
            notify=_l("not approved"),
            style="danger",
            decides=True,
        ),
    )


# --- Writes owned by the engine: views never commit, set a status or roll back themselves ----------


def create_and_fire(model: type, values: dict[str, Any], actor: Any, transition: str = "submit") -> Application:
    """Create an application of `model` for the actor's enterprise and fire its first transition, in
    one transaction: if a guard refuses, nothing is stored and the WorkflowError propagates."""
    record = model(
        enterprise_id=actor.enterprise_id,
        status=REGISTRY[model.__mapper_args__["polymorphic_identity"]].initial,
        version=1,
        created_by_id=actor.id,
        **values,
    )
    db.session.add(record)
    try:
        db.session.flush()
        apply(record, transition, actor)
    except Exception:
        db.session.rollback()
        raise
    return record


def update_data(
    record: Application,
    values: dict[str, Any],
    actor: Any,
    *,
    states: tuple[str, ...] | None = None,
    expected_version: int | None = None,
    target: Any = None,
) -> None:
    """The owner changes an application's data (or a part's, `target`) while it is in `states`
    (default: the workflow's editable states): version-checked, audited and committed together."""
    target = record if target is None else target
    states = states if states is not None else workflow_for(record).editable_states
    claim_for_change(record, states, expected_version)
    columns = sorted(values)
    before = audit.snapshot(target, columns)
    for name, value in values.items():
        setattr(target, name, value)
    audit.record(
        "update",
        type(target).__name__,
        getattr(target, "id", None) or record.id,
        before=before,
        after=audit.snapshot(target, columns),
        actor=actor,
    )
    try:
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise


# --- Guard factories usable by every workflow ------------------------------------------------------


def one_open_per(kind: str, message: Any, also: Guard | None = None) -> Guard:
    """At most one open application of `kind` per enterprise; `also` adds a type's own condition."""

    def guard(record: Application, actor: Any) -> str | None:
        from sqlalchemy import func, select, true

        workflow = REGISTRY[kind]
        others = db.session.scalar(
            select(func.count())
            .select_from(Application)
            .where(
                Application.kind == kind,
                Application.enterprise_id == record.enterprise_id,
                Application.status.not_in(workflow.final_states),
                Application.id != record.id if record.id else true(),
            )
        )
        if others:
            return str(message)
        return also(record, actor) if also else None

    return guard


def notice_read(seconds_setting: str, message: Any, attribute: str = "notice_read_on") -> Guard:
    """The application's notice was opened at least the configured number of seconds before."""

    def guard(record: Application, actor: Any) -> str | None:
        from ..settings import get_int

        seconds = get_int(seconds_setting)
        opened = getattr(record, attribute, None)
        if opened is None or (utcnow() - opened).total_seconds() < seconds:
            return str(message) % {"s": seconds} if "%(s)s" in str(message) else str(message)
        return None

    return guard


# --- Loading: the workflows that exist, in menu order ---------------------------------------------

WORKFLOW_MODULES = (
    "app.workflows.membership",
    "app.workflows.qualification",
    "app.workflows.change",
    "app.workflows.replacement",
    "app.workflows.filing",
)


def load_workflows() -> dict[str, Workflow]:
    """Import every workflow module named in WORKFLOW_MODULES (each registers its table)."""
    import importlib

    for name in WORKFLOW_MODULES:
        importlib.import_module(name)
    return REGISTRY

"""Small configuration tables every page reads (settings, qualification levels): read once per request.

`per_request(name, load)` keeps what `load()` returned for the rest of the request. Anything written
during the request (any flush), and any rollback, forgets it, so a page that saves a setting or a level
reads it afresh; outside a request nothing is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import g, has_request_context
from sqlalchemy import event
from sqlalchemy.orm import Session

T = TypeVar("T")


def per_request(name: str, load: Callable[[], T]) -> T:
    if not has_request_context():
        return load()
    memo = g.setdefault("_per_request", {})
    if name not in memo:
        memo[name] = load()
    return memo[name]


@event.listens_for(Session, "after_flush")
def _forget_after_writes(session, flush_context) -> None:
    if has_request_context():
        g.pop("_per_request", None)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session) -> None:
    """What was read after a write that is now undone would still show the write."""
    if has_request_context():
        g.pop("_per_request", None)

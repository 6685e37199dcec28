"""Simultaneous writes to staff records answer like the sequential checks, never with a 500."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app import db
from app.models import TechnicalStaff
from app.staff import StaffRejected, check_staff, save_staff
from factories import make_enterprise, person


def test_simultaneous_new_staff_with_one_id_number_gets_the_duplicate_message(app, monkeypatch):
    enterprise = make_enterprise()
    values, errors = check_staff(person(1))
    assert not errors
    save_staff(enterprise.id, values)
    db.session.commit()
    # The second request ran its duplicate check before the first one committed: the check saw nothing.
    real_scalar = db.session.scalar
    calls = []

    def check_sees_nothing(statement, *args, **kwargs):
        calls.append(statement)
        return None if len(calls) == 1 else real_scalar(statement, *args, **kwargs)

    monkeypatch.setattr(db.session, "scalar", check_sees_nothing)
    with pytest.raises(StaffRejected) as excinfo:
        save_staff(enterprise.id, dict(values))
    monkeypatch.undo()
    assert excinfo.value.message == "该身份证号的技术人员已登记"
    assert db.session.scalar(select(func.count()).select_from(TechnicalStaff)) == 1

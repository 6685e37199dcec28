"""The review queue's indexes carry the enterprise (#10)

Revision ID: 7d5e6f8091a4
Revises: 6c4d5e7f8093
Create Date: 2026-11-29 19:30:00

A queue filtered by enterprise (name, credit code, province) walks its index in waiting order and
tests each application's enterprise against the matching enterprises: with enterprise_id in the index
that walk never reads the table, so a search matching one enterprise costs what one matching thousands
does (SQLite: 5 ms instead of 40 at 100,000 applications).
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '7d5e6f8091a4'
down_revision = '6c4d5e7f8093'
branch_labels = None
depends_on = None

# The same text as app.models.QUEUE_OPEN_PREDICATE (a migration does not import the models).
QUEUE_OPEN_PREDICATE = (
    "status IN ('approved', 'payment_returned', 'payment_submitted', 'received', 'returned', 'submitted')"
)
WAITING_SINCE = sa.text("coalesce(submitted_on, created_on)")


def _create(with_enterprise: bool) -> None:
    extra = ["enterprise_id"] if with_enterprise else []
    op.create_index(
        "ix_application_queue_open",
        "application",
        ["kind", WAITING_SINCE, "id", "status", *extra],
        sqlite_where=sa.text(QUEUE_OPEN_PREDICATE),
        postgresql_where=sa.text(QUEUE_OPEN_PREDICATE),
    )
    op.create_index("ix_application_queue_all", "application", ["kind", WAITING_SINCE, "id", *extra])


def _drop() -> None:
    op.drop_index("ix_application_queue_all", table_name="application")
    op.drop_index("ix_application_queue_open", table_name="application")


def upgrade():
    _drop()
    _create(with_enterprise=True)


def downgrade():
    _drop()
    _create(with_enterprise=False)

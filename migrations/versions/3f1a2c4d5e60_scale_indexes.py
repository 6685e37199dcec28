"""Indexes that serve the lists' sort orders and searches at scale (#10)

Revision ID: 3f1a2c4d5e60
Revises: b80c4b16df90
Create Date: 2026-11-29 15:40:00

The review queue's open view is a partial index over the waiting order, the overview counts read a
(kind, status, submitted_on) index, the enterprise's staff list reads (enterprise, archived, id).
On PostgreSQL the searches that must stay "contains" (enterprise name and credit code, staff name
and ID number) get trigram GIN indexes (pg_trgm); SQLite keeps scanning, which stays correct.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '3f1a2c4d5e60'
down_revision = 'b80c4b16df90'
branch_labels = None
depends_on = None

# The same text as app.models.QUEUE_OPEN_PREDICATE (a migration does not import the models).
QUEUE_OPEN_PREDICATE = (
    "status IN ('approved', 'payment_returned', 'payment_submitted', 'received', 'returned', 'submitted')"
)
WAITING_SINCE = sa.text("coalesce(submitted_on, created_on)")
TRIGRAM_INDEXES = [
    ("ix_trgm_enterprise_name", "enterprise", "name"),
    ("ix_trgm_enterprise_credit_code", "enterprise", "credit_code"),
    ("ix_trgm_technical_staff_name", "technical_staff", "name"),
    ("ix_trgm_technical_staff_id_number", "technical_staff", "id_number"),
]


def upgrade():
    op.create_index(
        "ix_application_queue_open",
        "application",
        ["kind", WAITING_SINCE, "id", "status"],
        sqlite_where=sa.text(QUEUE_OPEN_PREDICATE),
        postgresql_where=sa.text(QUEUE_OPEN_PREDICATE),
    )
    op.create_index("ix_application_queue_all", "application", ["kind", WAITING_SINCE, "id"])
    op.create_index("ix_application_kind_status_submitted", "application", ["kind", "status", "submitted_on"])
    op.create_index(
        "ix_technical_staff_enterprise_archived_id", "technical_staff", ["enterprise_id", "archived", "id"]
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for name, table, column in TRIGRAM_INDEXES:
            op.execute(f"CREATE INDEX {name} ON {table} USING gin ({column} gin_trgm_ops)")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for name, _table, _column in TRIGRAM_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
    op.drop_index("ix_technical_staff_enterprise_archived_id", table_name="technical_staff")
    op.drop_index("ix_application_kind_status_submitted", table_name="application")
    op.drop_index("ix_application_queue_all", table_name="application")
    op.drop_index("ix_application_queue_open", table_name="application")

"""Scheduled jobs, reminders sent, message templates (#13)

Revision ID: 4a2b3c5d6e71
Revises: 3f1a2c4d5e60
Create Date: 2026-11-29 15:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '4a2b3c5d6e71'
down_revision = '3f1a2c4d5e60'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass

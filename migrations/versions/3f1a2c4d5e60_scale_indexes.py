"""Indexes that serve the lists' sort orders and searches at scale (#10)

Revision ID: 3f1a2c4d5e60
Revises: b80c4b16df90
Create Date: 2026-11-29 15:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3f1a2c4d5e60'
down_revision = 'b80c4b16df90'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass

"""Switch-over import from the old system (#14)

Revision ID: 5b3c4d6e7f82
Revises: 4a2b3c5d6e71
Create Date: 2026-11-29 15:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5b3c4d6e7f82'
down_revision = '4a2b3c5d6e71'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass

"""Back office: dashboard, dossier, exports (#13)

Revision ID: 6c4d5e7f8093
Revises: 5b3c4d6e7f82
Create Date: 2026-11-29 15:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '6c4d5e7f8093'
down_revision = '5b3c4d6e7f82'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass

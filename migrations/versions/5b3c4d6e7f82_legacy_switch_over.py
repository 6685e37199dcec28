"""Switch-over import from the old system (#14): the year an annual-review event passed

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
    with op.batch_alter_table('certificate_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('review_year', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('certificate_event', schema=None) as batch_op:
        batch_op.drop_column('review_year')

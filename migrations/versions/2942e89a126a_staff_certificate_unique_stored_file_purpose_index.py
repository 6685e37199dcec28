"""one row per staff certificate (staff, kind, number); stored_file index for the error-workbook purge

Revision ID: 2942e89a126a
Revises: 27f3178f15cb
Create Date: 2026-11-29 15:10:00.000000

Duplicates left by simultaneous 添加证书 are removed first, keeping the lowest id of each
(staff_id, kind, number); their scans stay in stored_file.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '2942e89a126a'
down_revision = '27f3178f15cb'
branch_labels = None
depends_on = None


def upgrade():
    op.execute(
        "DELETE FROM staff_certificate WHERE id NOT IN "
        "(SELECT keep_id FROM (SELECT MIN(id) AS keep_id FROM staff_certificate "
        "GROUP BY staff_id, kind, number) AS kept)"
    )
    with op.batch_alter_table('staff_certificate', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_staff_certificate_number', ['staff_id', 'kind', 'number'])

    with op.batch_alter_table('stored_file', schema=None) as batch_op:
        batch_op.create_index('ix_stored_file_purpose_created', ['purpose', 'created_on'], unique=False)


def downgrade():
    with op.batch_alter_table('stored_file', schema=None) as batch_op:
        batch_op.drop_index('ix_stored_file_purpose_created')

    with op.batch_alter_table('staff_certificate', schema=None) as batch_op:
        batch_op.drop_constraint('uq_staff_certificate_number', type_='unique')

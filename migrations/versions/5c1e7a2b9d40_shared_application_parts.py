"""Shared application parts: payment, supporting files and one certificate register.

Membership payment columns move into `payment`; member numbers and training certificate numbers
move into `certificate` (numbers unchanged).

Revision ID: 5c1e7a2b9d40
Revises: 7b7e0b29a0e6
Create Date: 2026-11-29 11:40:00
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "5c1e7a2b9d40"
down_revision = "7b7e0b29a0e6"
branch_labels = None
depends_on = None

PAYMENT_COLUMNS = (
    "fee",
    "delivery_method",
    "mail_recipient",
    "mail_phone",
    "mail_address",
    "payment_file_id",
    "payment_phone",
    "payment_submitted_on",
)


def upgrade():
    op.create_table(
        "certificate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("number", sa.String(length=60), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("holder_name", sa.String(length=200), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=True),
        sa.Column("level", sa.String(length=30), nullable=True),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("copies_original", sa.Integer(), nullable=False),
        sa.Column("copies_duplicate", sa.Integer(), nullable=False),
        sa.Column("replaces_id", sa.Integer(), nullable=True),
        sa.Column("created_on", sa.DateTime(), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False),
        sa.Column("changed_on", sa.DateTime(), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False),
        sa.ForeignKeyConstraint(["application_id"], ["application.id"]),
        sa.ForeignKeyConstraint(["enterprise_id"], ["enterprise.id"]),
        sa.ForeignKeyConstraint(["replaces_id"], ["certificate.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
    )
    with op.batch_alter_table("certificate", schema=None) as batch_op:
        batch_op.create_index("ix_certificate_kind_status", ["kind", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_certificate_application_id"), ["application_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_certificate_enterprise_id"), ["enterprise_id"], unique=False)

    op.create_table(
        "certificate_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=30), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_name", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["ab_user.id"]),
        sa.ForeignKeyConstraint(["certificate_id"], ["certificate.id"]),
        sa.ForeignKeyConstraint(["enterprise_id"], ["enterprise.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("certificate_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_certificate_event_certificate_id"), ["certificate_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_certificate_event_enterprise_id"), ["enterprise_id"], unique=False)

    op.create_table(
        "payment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("fee", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("delivery_method", sa.String(length=10), nullable=True),
        sa.Column("mail_recipient", sa.String(length=50), nullable=True),
        sa.Column("mail_phone", sa.String(length=20), nullable=True),
        sa.Column("mail_address", sa.String(length=300), nullable=True),
        sa.Column("file_id", sa.Integer(), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("submitted_on", sa.DateTime(), nullable=True),
        sa.Column("created_on", sa.DateTime(), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False),
        sa.Column("changed_on", sa.DateTime(), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False),
        sa.ForeignKeyConstraint(["application_id"], ["application.id"]),
        sa.ForeignKeyConstraint(["enterprise_id"], ["enterprise.id"]),
        sa.ForeignKeyConstraint(["file_id"], ["stored_file.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("application_id"),
    )
    with op.batch_alter_table("payment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payment_enterprise_id"), ["enterprise_id"], unique=False)

    op.create_table(
        "application_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("requirement", sa.String(length=60), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("created_on", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["application_id"], ["application.id"]),
        sa.ForeignKeyConstraint(["enterprise_id"], ["enterprise.id"]),
        sa.ForeignKeyConstraint(["file_id"], ["stored_file.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("application_file", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_application_file_application_id"), ["application_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_application_file_enterprise_id"), ["enterprise_id"], unique=False)

    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.add_column(sa.Column("certificate_id", sa.Integer(), nullable=True))
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("certificate_id", sa.Integer(), nullable=True))

    _move_data()

    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.alter_column("certificate_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_unique_constraint("uq_membership_certificate_id", ["certificate_id"])
        batch_op.create_foreign_key("fk_membership_certificate_id", "certificate", ["certificate_id"], ["id"])
        batch_op.drop_column("member_number")
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_enrollment_certificate_id", ["certificate_id"])
        batch_op.create_foreign_key("fk_enrollment_certificate_id", "certificate", ["certificate_id"], ["id"])
        batch_op.drop_column("certificate_number")
    with op.batch_alter_table("membership_application", schema=None) as batch_op:
        for column in PAYMENT_COLUMNS:
            batch_op.drop_column(column)


def _move_data():
    bind = op.get_bind()
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    certificate = sa.table(
        "certificate",
        *(
            sa.column(name)
            for name in (
                "id",
                "kind",
                "number",
                "enterprise_id",
                "holder_name",
                "application_id",
                "issued_on",
                "valid_from",
                "valid_until",
                "status",
                "copies_original",
                "copies_duplicate",
                "created_on",
                "changed_on",
            )
        ),
    )
    event = sa.table(
        "certificate_event",
        *(sa.column(n) for n in ("certificate_id", "enterprise_id", "event", "to_status", "actor_name", "at", "note")),
    )

    def issue(kind, number, enterprise_id, holder, application_id, issued_on, valid_until, status):
        new_id = bind.execute(
            certificate.insert()
            .values(
                kind=kind,
                number=number,
                enterprise_id=enterprise_id,
                holder_name=holder,
                application_id=application_id,
                issued_on=issued_on,
                valid_from=issued_on,
                valid_until=valid_until,
                status=status,
                copies_original=1,
                copies_duplicate=0,
                created_on=now,
                changed_on=now,
            )
            .returning(certificate.c.id)
        ).scalar_one()
        bind.execute(
            event.insert().values(
                certificate_id=new_id,
                enterprise_id=enterprise_id,
                event="issued",
                to_status=status,
                actor_name="系统迁移",
                at=now,
                note=None,
            )
        )
        return new_id

    memberships = bind.execute(
        sa.text(
            "SELECT m.id, m.member_number, m.enterprise_id, e.name, m.application_id, m.valid_from, m.valid_until, "
            "m.status FROM membership m JOIN enterprise e ON e.id = m.enterprise_id ORDER BY m.id"
        )
    ).all()
    for mid, number, enterprise_id, holder, application_id, valid_from, valid_until, status in memberships:
        cid = issue("membership", number, enterprise_id, holder, application_id, valid_from, valid_until, status)
        bind.execute(sa.text("UPDATE membership SET certificate_id = :c WHERE id = :m"), {"c": cid, "m": mid})

    enrollments = bind.execute(
        sa.text(
            "SELECT n.id, n.certificate_number, n.enterprise_id, s.name, n.result_on, n.created_on FROM enrollment n "
            "JOIN technical_staff s ON s.id = n.staff_id WHERE n.certificate_number IS NOT NULL ORDER BY n.id"
        )
    ).all()
    for nid, number, enterprise_id, holder, result_on, created_on in enrollments:
        issued = result_on or (created_on.date() if isinstance(created_on, dt.datetime) else now.date())
        cid = issue("training", number, enterprise_id, holder, None, issued, None, "valid")
        bind.execute(sa.text("UPDATE enrollment SET certificate_id = :c WHERE id = :n"), {"c": cid, "n": nid})

    bind.execute(
        sa.text(
            "INSERT INTO payment (application_id, enterprise_id, fee, delivery_method, mail_recipient, mail_phone, "
            "mail_address, file_id, phone, submitted_on, created_on, changed_on) "
            "SELECT m.id, a.enterprise_id, m.fee, m.delivery_method, m.mail_recipient, m.mail_phone, m.mail_address, "
            "m.payment_file_id, m.payment_phone, m.payment_submitted_on, a.created_on, a.changed_on "
            "FROM membership_application m JOIN application a ON a.id = m.id "
            "WHERE m.fee IS NOT NULL OR m.delivery_method IS NOT NULL OR m.payment_file_id IS NOT NULL "
            "OR m.payment_phone IS NOT NULL"
        )
    )


def downgrade():
    with op.batch_alter_table("membership_application", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fee", sa.Numeric(precision=12, scale=2), nullable=True))
        batch_op.add_column(sa.Column("delivery_method", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("mail_recipient", sa.String(length=50), nullable=True))
        batch_op.add_column(sa.Column("mail_phone", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("mail_address", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("payment_file_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("payment_phone", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("payment_submitted_on", sa.DateTime(), nullable=True))
        batch_op.create_foreign_key(
            "fk_membership_application_payment_file", "stored_file", ["payment_file_id"], ["id"]
        )
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.add_column(sa.Column("member_number", sa.String(length=60), nullable=True))
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("certificate_number", sa.String(length=60), nullable=True))
    bind = op.get_bind()
    bind.execute(
        sa.text(
            "UPDATE membership SET member_number = (SELECT number FROM certificate WHERE certificate.id = "
            "membership.certificate_id)"
        )
    )
    bind.execute(
        sa.text(
            "UPDATE enrollment SET certificate_number = (SELECT number FROM certificate WHERE certificate.id = "
            "enrollment.certificate_id)"
        )
    )
    for column in PAYMENT_COLUMNS:
        source = {"payment_file_id": "file_id", "payment_phone": "phone", "payment_submitted_on": "submitted_on"}.get(
            column, column
        )
        bind.execute(
            sa.text(
                f"UPDATE membership_application SET {column} = (SELECT {source} FROM payment "
                "WHERE payment.application_id = membership_application.id)"
            )
        )
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.alter_column("member_number", existing_type=sa.String(length=60), nullable=False)
        batch_op.create_unique_constraint("uq_membership_member_number", ["member_number"])
        batch_op.drop_constraint("fk_membership_certificate_id", type_="foreignkey")
        batch_op.drop_constraint("uq_membership_certificate_id", type_="unique")
        batch_op.drop_column("certificate_id")
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_enrollment_certificate_number", ["certificate_number"])
        batch_op.drop_constraint("fk_enrollment_certificate_id", type_="foreignkey")
        batch_op.drop_constraint("uq_enrollment_certificate_id", type_="unique")
        batch_op.drop_column("certificate_id")
    op.drop_table("application_file")
    op.drop_table("payment")
    op.drop_table("certificate_event")
    op.drop_table("certificate")

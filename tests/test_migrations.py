"""Migrations: `flask db upgrade` on an empty database gives exactly the models' schema."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_appbuilder import Model

import app.models  # noqa: F401
from app import db


def for_this_dialect(dialect_name: str):
    """Alembic ignores `Index(...).ddl_if(dialect=...)`: such an index (pg_trgm's) is compared only there."""

    def include_object(obj, name, type_, reflected, compare_to):
        ddl_if = getattr(obj, "_ddl_if", None)
        return not (type_ == "index" and not reflected and ddl_if is not None and ddl_if.dialect != dialect_name)

    return include_object


def test_no_pending_autogenerate_diff(app):
    # The session fixture built this database with `flask db upgrade` (flask_migrate.upgrade).
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": for_this_dialect(connection.dialect.name)}
        )
        diff = compare_metadata(context, Model.metadata)
    assert diff == [], diff


def test_single_head(app):
    from alembic.script import ScriptDirectory
    from flask_migrate import Migrate  # noqa: F401

    config = app.extensions["migrate"].migrate.get_config()
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def test_shared_parts_migration_moves_numbers_and_payments(tmp_path):
    """Memberships, training certificates and membership payments move into the register and the
    payment part with their numbers unchanged, and back again on downgrade."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import text

    from app import MIGRATIONS_DIR, create_app
    from conftest import app_settings

    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = create_app("config.Config", **app_settings(tmp_path, url))
    with old.app_context():
        upgrade(directory=MIGRATIONS_DIR, revision="7b7e0b29a0e6")
        statements = [
            "INSERT INTO enterprise (id, name, credit_code, region_code, province, city, district, created_on, "
            "changed_on) VALUES (1, '老会员安防公司', '91340104MA0000001X', '340104', '安徽省', '合肥市', '蜀山区', "
            "'2025-01-01', '2025-01-01')",
            "INSERT INTO member_tier (id, name, annual_fee, sort_order, active) VALUES (1, '会员单位', 2000, 1, 1)",
            "INSERT INTO application (id, kind, enterprise_id, status, version, created_on, changed_on) "
            "VALUES (7, 'membership', 1, 'completed', 5, '2025-01-01', '2025-01-02')",
            "INSERT INTO membership_application (id, tier_id, legal_person, registered_capital, employees, "
            "technical_staff, main_business, contact_person, contact_phone, fee, delivery_method, payment_phone) "
            "VALUES (7, 1, '甲', 100, 10, 2, '工程', '乙', '13800000000', 2000, 'pickup', '13800000001')",
            "INSERT INTO membership (id, enterprise_id, application_id, member_number, tier_id, fee, valid_from, "
            "valid_until, status, created_on, changed_on) VALUES (3, 1, 7, '皖安协会[2025]第0042号', 1, 2000, "
            "'2025-01-02', '2026-01-01', 'valid', '2025-01-02', '2025-01-02')",
            "INSERT INTO technical_staff (id, enterprise_id, name, gender, id_number, mobile, education, title, "
            "position, insurance_months, archived, created_on, changed_on) VALUES (5, 1, '王工', 'male', "
            "'340104199001011234', '13900000000', '本科', '工程师', '施工员', 12, 0, '2025-01-01', '2025-01-01')",
            "INSERT INTO training_batch (id, name, notice, starts_on, ends_on, place, capacity, fee, "
            "signup_opens_on, signup_closes_on, status, created_on, changed_on) VALUES (2, '第一期', '', "
            "'2025-03-01', '2025-03-02', '合肥', 10, 0, '2025-02-01', '2025-02-20', 'finished', '2025-01-01', "
            "'2025-01-01')",
            "INSERT INTO enrollment (id, batch_id, staff_id, enterprise_id, id_number, status, certificate_number, "
            "result_on, created_on, changed_on) VALUES (9, 2, 5, 1, '340104199001011234', 'passed', "
            "'皖安协培[2025]第00007号', '2025-03-02', '2025-02-02', '2025-03-02')",
        ]
        for statement in statements:
            db.session.execute(text(statement))
        db.session.commit()
        upgrade(directory=MIGRATIONS_DIR, revision="5c1e7a2b9d40")
        rows = db.session.execute(
            text("SELECT kind, number, enterprise_id, holder_name, valid_until FROM certificate ORDER BY kind")
        ).all()
        assert [tuple(map(str, r)) for r in rows] == [
            ("membership", "皖安协会[2025]第0042号", "1", "老会员安防公司", "2026-01-01"),
            ("training", "皖安协培[2025]第00007号", "1", "王工", "None"),
        ]
        assert (
            db.session.execute(
                text("SELECT c.number FROM membership m JOIN certificate c ON c.id = m.certificate_id")
            ).scalar_one()
            == "皖安协会[2025]第0042号"
        )
        assert (
            db.session.execute(
                text("SELECT c.number FROM enrollment n JOIN certificate c ON c.id = n.certificate_id")
            ).scalar_one()
            == "皖安协培[2025]第00007号"
        )
        payment = db.session.execute(text("SELECT application_id, fee, delivery_method, phone FROM payment")).one()
        assert (payment[0], float(payment[1]), payment[2], payment[3]) == (7, 2000.0, "pickup", "13800000001")
        assert db.session.execute(text("SELECT count(*) FROM certificate_event")).scalar_one() == 2
        downgrade(directory=MIGRATIONS_DIR, revision="7b7e0b29a0e6")
        assert db.session.execute(text("SELECT member_number FROM membership")).scalar_one() == "皖安协会[2025]第0042号"
        assert db.session.execute(text("SELECT certificate_number FROM enrollment")).scalar_one() == (
            "皖安协培[2025]第00007号"
        )
        assert db.session.execute(text("SELECT payment_phone FROM membership_application")).scalar_one() == (
            "13800000001"
        )
        db.session.remove()

"""Application factory: extensions, Flask-AppBuilder, views, CLI and security headers."""

import logging
import os
import secrets
from pathlib import Path

from flask import Flask
from flask_appbuilder import AppBuilder
from flask_appbuilder.models.sqla.base import SQLA
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

db = SQLA()
migrate = Migrate()
csrf = CSRFProtect()

MIGRATIONS_DIR = str(Path(__file__).resolve().parent.parent / "migrations")

log = logging.getLogger(__name__)


def _load_or_create_secret_key(instance_path: str) -> str:
    """Return the instance secret key, creating it once with owner-only permissions."""
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip()


def create_app(config_object: str | object = "config.Config", **overrides) -> Flask:
    from config import INSTANCE_DIR

    app = Flask(__name__, instance_path=str(overrides.pop("INSTANCE_PATH", INSTANCE_DIR)))
    app.config.from_object(config_object)
    app.config.update(overrides)
    os.makedirs(app.instance_path, exist_ok=True)
    from .throttle import check_storage

    check_storage(app)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _load_or_create_secret_key(app.instance_path)

    if app.config.get("PROXY_COUNT"):
        # Behind nginx: take the client address (audit, rate limits) from X-Forwarded-For.
        from werkzeug.middleware.proxy_fix import ProxyFix

        count = int(app.config["PROXY_COUNT"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)

    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True, compare_type=True)
    csrf.init_app(app)

    with app.app_context():
        appbuilder = AppBuilder(update_perms=False)
        appbuilder.init_app(app, db.session)
        from . import views

        views.register(appbuilder)

    from . import cli, display, errors, list_args, security

    cli.register(app)
    display.install(app)
    errors.register(app)
    security.install_request_hooks(app)
    list_args.register(app)
    return app

"""Entry point for `flask --app run` and for gunicorn (`gunicorn 'run:app'`)."""

import os

from app import create_app

app = create_app("config.ProductionConfig" if os.environ.get("APP_ENV") == "production" else "config.Config")

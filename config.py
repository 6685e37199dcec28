"""Configuration: defaults for the embedded set-up, overridden from the environment in production."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("INSTANCE_PATH", BASE_DIR / "instance"))


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'app.db'}"
    # Heroku-style URLs name the dialect "postgres", which SQLAlchemy 2 no longer accepts.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    return url


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class Config:
    APP_NAME = "安防信息管理平台"
    APP_ICON = ""
    # Read from the environment, or generated once into instance/secret_key by the app factory.
    SECRET_KEY = os.environ.get("SECRET_KEY")

    SQLALCHEMY_DATABASE_URI = _database_url()
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}

    # Flask-AppBuilder
    AUTH_TYPE = 1  # AUTH_DB
    AUTH_ROLE_ADMIN = "Admin"
    AUTH_ROLE_PUBLIC = "Public"
    AUTH_USER_REGISTRATION = False  # our own SMS-based registration replaces FAB's mail/reCAPTCHA one
    FAB_SECURITY_MANAGER_CLASS = "app.security.PlatformSecurityManager"
    FAB_INDEX_VIEW = "app.views.HomeView"
    FAB_BASE_TEMPLATE = "platform_base.html"
    # Schema comes from migrations, roles and permissions from `flask roles sync`; nothing is
    # written to the database while a worker starts.
    FAB_CREATE_DB = False
    FAB_UPDATE_PERMS = False
    FAB_ADD_SECURITY_API = False
    FAB_ADD_MENU_API = False
    FAB_ADD_OPENAPI_VIEWS = False
    FAB_API_SWAGGER_UI = False
    # Raw permission tables are managed as code (app/roles.py); the roles view shows them.
    FAB_ADD_SECURITY_PERMISSION_VIEW = False
    FAB_ADD_SECURITY_VIEW_MENU_VIEW = False
    FAB_ADD_SECURITY_PERMISSION_VIEWS_VIEW = False
    FAB_PASSWORD_HASH_METHOD = "scrypt"

    APP_ENV = os.environ.get("APP_ENV", "development")

    # Sign-in limits count failures only (app/throttle.py): per account a growing delay, then a
    # lock lifted by an SMS password reset; per client address the ceiling below, on failed
    # sign-ins, activations and SMS-code checks together. FAB's own limiter counted every POST,
    # successes included, and is off. Storage is in memory unless a shared store is configured;
    # production refuses to start without one (several gunicorn workers).
    AUTH_RATE_LIMITED = False
    AUTH_RATE_LIMIT = os.environ.get("AUTH_RATE_LIMIT", "100 per 15 minute")
    RATELIMIT_ENABLED = _flag("RATELIMIT_ENABLED", True)
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    RATELIMIT_HEADERS_ENABLED = True

    # Chinese first; English available.
    BABEL_DEFAULT_LOCALE = "zh"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    BABEL_TRANSLATION_DIRECTORIES = str(BASE_DIR / "app" / "translations")
    LANGUAGES = {
        "zh": {"flag": "cn", "name": "简体中文"},
        "en": {"flag": "gb", "name": "English"},
    }

    # Sessions and CSRF
    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = None  # tied to the session instead of a clock
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _flag("SESSION_COOKIE_SECURE", False)
    SESSION_COOKIE_NAME = "sifp_session"
    PERMANENT_SESSION_LIFETIME = 8 * 3600
    REMEMBER_COOKIE_HTTPONLY = True

    # Uploads: outside static files, served only through the protected file view.
    UPLOAD_ROOT = os.environ.get("UPLOAD_ROOT", str(INSTANCE_DIR / "uploads"))
    MAX_CONTENT_LENGTH = 32 * 1024 * 1024  # hard ceiling per request; per-type limits are smaller
    # Workbooks with the errors of a refused 报名表 are deleted after this many hours
    # (`flask training purge-error-sheets`, and whenever a new one is written).
    TRAINING_ERROR_SHEET_MAX_AGE_HOURS = float(os.environ.get("TRAINING_ERROR_SHEET_MAX_AGE_HOURS", "24"))

    # SMS: `file` writes instance/sms-outbox.jsonl; `http` posts to a provider.
    SMS_BACKEND = os.environ.get("SMS_BACKEND", "file")
    SMS_HTTP_URL = os.environ.get("SMS_HTTP_URL")
    SMS_HTTP_TOKEN = os.environ.get("SMS_HTTP_TOKEN")
    SMS_SIGN = os.environ.get("SMS_SIGN", "")

    # Number of reverse proxies in front of the app (X-Forwarded-For hops to trust); 0 = none.
    PROXY_COUNT = int(os.environ.get("PROXY_COUNT", "0"))

    # The association's home province (region code prefix): decides a registrant's role.
    HOME_PROVINCE_CODE = os.environ.get("HOME_PROVINCE_CODE", "34")

    # Where the public reaches this site: the QR code on every certificate links to <this>/verify/<number>.
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:8080")
    # Public certificate verification (page and JSON) per client address.
    VERIFY_RATE_LIMIT = os.environ.get("VERIFY_RATE_LIMIT", "60 per minute")

    # Who enterprises call about payments while the bank account is not published yet.
    ASSOCIATION_CONTACT = os.environ.get("ASSOCIATION_CONTACT", "张静 0551-62818875 64280445")

    # Site content shown in the footer (the manual's 技术支持 / 协会联系人 block).
    SITE_FOOTER_LINES = [
        "技术支持：QQ群：836016592",
        "技术支持电话：0551-64680860 宫经理（工作日）",
        "协会联系人：张静 0551-62818875 64280445",
        "意见和建议反馈邮箱：2542069173@qq.com",
    ]


class ProductionConfig(Config):
    APP_ENV = "production"
    SESSION_COOKIE_SECURE = _flag("SESSION_COOKIE_SECURE", True)
    REMEMBER_COOKIE_SECURE = True
    PREFERRED_URL_SCHEME = "https"

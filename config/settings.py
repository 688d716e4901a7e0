"""Settings, read from the environment here, once, with ``django-environ``.

Defaults are safe for development (SQLite under ``var/``, a broker that needs no
server, the console SMS backend). ``DEBUG=0`` switches to strict production
settings and refuses to start without a real ``SECRET_KEY`` and ``ALLOWED_HOSTS``.

Every variable is read by an ``env(...)`` / ``env.<type>(...)`` call with its name
spelled out: tests/test_deploy.py finds them that way and keeps docker-compose.yml
and .env.example in step.
"""

import os
from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# An empty variable means "the default": compose passes every variable, empty where
# .env leaves it out, and .env.example promises exactly that.
env.ENVIRON = {name: value for name, value in os.environ.items() if value != ""}
# django-environ reads a value that starts with "$" as the name of another variable
# (a secret key may well start with one): "\$" stands for a literal "$".
env.escape_proxy = True

VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))

DEBUG = env.bool("DEBUG", default=True)
_DEV_SECRET_KEY = "django-insecure-development-key-do-not-use-in-production"
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET_KEY if DEBUG else "")
# Comma-separated; spaces around the names do not count.
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", cast=str.strip, default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else []
)

if not DEBUG:
    if not SECRET_KEY or SECRET_KEY == _DEV_SECRET_KEY or len(SECRET_KEY) < 32:
        raise ImproperlyConfigured("DEBUG=0 needs SECRET_KEY set to a random string of 32+ chars.")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("DEBUG=0 needs ALLOWED_HOSTS (comma-separated host names).")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "crm",
    "targetgroups",
    "sms",
    "imports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # ?q=%00 and friends answer 400 before any view hands them to the database.
    "core.middleware.RefuseNulMiddleware",
    # Static files straight from the app (no separate web server needed).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "crm.middleware.MembershipMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it answers a locked-out login with the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "sms.context_processors.replies_unread",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
# DATABASE_URL selects PostgreSQL (postgres://...) in production and CI; without
# it the project runs on SQLite under var/ so that `make run` needs no server.
VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": {
        **env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        "CONN_MAX_AGE": env.int("DB_CONN_MAX_AGE", default=60),
        "CONN_HEALTH_CHECKS": True,
    }
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A database that does not answer fails fast (and /healthz says so) instead of hanging.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the web server and the worker share the file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes first: it refuses a locked-out username before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Internationalisation --------------------------------------------------------
# British English by default: day-first dates and 24-hour times, as Finns expect.
LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="en-gb")
LANGUAGES = [("en-gb", _("English")), ("fi", _("Finnish"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Helsinki")
USE_I18N = True
USE_TZ = True

# --- Static files ------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
# Production serves hashed, compressed files collected at build time (the Docker
# image runs collectstatic); development and tests serve the source files as they
# are, so neither `make run` nor `make test` needs collectstatic.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Development: whitenoise serves the source files and picks up edits (these keep
# their development values under the test runner, which turns DEBUG off).
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# --- Security ------------------------------------------------------------------------
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = 0 if DEBUG else env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
# The preload flag only takes effect once the domain is submitted to the browsers'
# list; SECURE_HSTS_PRELOAD=0 leaves it out.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SESSION_COOKIE_HTTPONLY = True
# Not HttpOnly: the pages' scripts read the CSRF cookie to send X-CSRFToken.
CSRF_COOKIE_HTTPONLY = False
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", cast=str.strip, default=[])
# Load balancers and container health checks probe over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# Content-Security-Policy (django-csp 4): scripts, styles, images, fonts and requests
# from this site only; no inline script or style attribute, no plugins, no framing.
# The pages keep to it (tests/e2e fail on any violation; tests/test_security.py checks
# the templates).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        # Swagger UI (/api/docs/) draws its icons from data: URLs.
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# Logins (django-axes, the login page and the admin's): after AXES_FAILURE_LIMIT
# wrong passwords for one username, that username is refused (429, the lockout page)
# for AXES_COOLOFF_MINUTES, whatever the password, from any address. Counted per
# username as typed, whether or not such a user exists, so the answers never tell
# which usernames exist. Not per IP address: behind a load balancer every visitor
# has the balancer's address. A successful login resets the count.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
# axes.W006 asks for locking per IP address too (against rotated User-Agents or
# cookies, which a per-username count does not look at); see above why not here.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]

# --- REST framework -------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first, so that an anonymous request is told 401 with a WWW-Authenticate.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["crm.permissions.IsOrganisationMember"],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.errors.api_exception_handler",
    "LIST_SERIALIZER_ERRORS_AS_DICT": True,
    # DRF's parsers, with a JSON parser that refuses NUL characters, lone surrogates
    # and nesting deeper than 32 levels (core.parsers) with a 400.
    "DEFAULT_PARSER_CLASSES": [
        "core.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
# Per-user rate limits ("N/s|min|hour|day"), counted in the default cache below.
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    "sms_preview": env.str("SMS_PREVIEW_RATE", default="120/min"),
    "sms_send": env.str("SMS_SEND_RATE", default="10/min"),
}

# --- Cache --------------------------------------------------------------------------
# Rate-limit counts live here. Several web processes must share one cache to count
# the same requests: REDIS_CACHE_URL = redis://host:6379/1. Without it, a per-process
# memory cache (fine for one process and for tests). Not env.cache_url: it knows no
# unix:// socket for Django's Redis backend, and accepts caches we do not want here.
_CACHE_URL = env.str("REDIS_CACHE_URL", default="")
if _CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _CACHE_URL,
        }
    }
elif _CACHE_URL:
    raise ImproperlyConfigured("REDIS_CACHE_URL must be a redis://, rediss:// or unix:// URL.")
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

SPECTACULAR_SETTINGS = {
    "TITLE": "CRM SMS API",
    "DESCRIPTION": "Accounts, contacts, target groups and SMS sendouts.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # /api/schema/ and /api/docs/ are for signed-in users (a token or a session), not
    # for anyone on the internet mapping the API.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Three serializers carry a "status": each choice set gets its own name.
    "ENUM_NAME_OVERRIDES": {
        "MessageStatusEnum": "sms.statuses.MessageStatus",
        "SendoutStatusEnum": "sms.statuses.SendoutStatus",
        "PurposeEnum": "sms.rules.purposes.Purpose",
        "ChosenPurposeEnum": "sms.rules.purposes.CHOOSABLE_PURPOSE_CHOICES",
    },
}

# --- Target groups ----------------------------------------------------------------------
# The Conditions tab's Actions section and the SMS tab are contributed by another app
# (targetgroups does not import sms): these name the templates they are rendered from,
# with `target_group` and `organisation` in their context.
TARGET_GROUP_ACTIONS_TEMPLATE = "sms/_targetgroup_actions.html"
TARGET_GROUP_SMS_TAB_TEMPLATE = "sms/_targetgroup_sms_tab.html"
# Likewise the SMS history on a contact's page (crm does not import sms), rendered
# with `contact` and `organisation` in its context.
CONTACT_SMS_HISTORY_TEMPLATE = "sms/_contact_sms_history.html"

# --- Celery ---------------------------------------------------------------------------
# With CELERY_BROKER_URL (redis://...) the worker uses Redis. Without it, kombu's
# filesystem transport under var/ lets `make run` start a real worker process with
# no broker server. Tasks are never run eagerly outside tests.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Task events for monitoring (celery events, Flower); config/celery.py also logs each
# task's start and finish. The worker keeps Django's LOGGING (JSON in production).
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- SMS ---------------------------------------------------------------------------------
# SMS_BACKEND: console (prints, the default), locmem (tests), twilio, or a dotted path.
SMS_BACKEND = env.str("SMS_BACKEND", default="console")
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM_NUMBER = env.str("TWILIO_FROM_NUMBER", default="")
TWILIO_MESSAGING_SERVICE_SID = env.str("TWILIO_MESSAGING_SERVICE_SID", default="")
# Empty: the real https://api.twilio.com. Tests and benches point it at a stand-in.
TWILIO_API_BASE_URL = env.str("TWILIO_API_BASE_URL", default="")
# The public base URL Twilio calls back (status callbacks, inbound replies).
SMS_STATUS_CALLBACK_BASE_URL = env.str("SMS_STATUS_CALLBACK_BASE_URL", default="")
# The public base URL of the short links (/l/<code>) and opt-out links (/s/o/<token>)
# in texts: the organisation's own short domain, since its length is billed in every
# message. And the texts before the opt-out.
SMS_SHORT_LINK_BASE_URL = env.str("SMS_SHORT_LINK_BASE_URL", default="http://localhost:8000")
SMS_OPTOUT_LINK_TEXT = env.str("SMS_OPTOUT_LINK_TEXT", default="Kiellä viestit:")
SMS_OPTOUT_REPLY_TEXT = env.str("SMS_OPTOUT_REPLY_TEXT", default="Vastaa LOPETA")
# Off only where no marketing goes out (tests of other things, a trial): every
# marketing text then lacks its opt-out, which the law requires.
SMS_OPTOUT_IN_TEXT = env.bool("SMS_OPTOUT_IN_TEXT", default=True)
# Requests in flight at once per sending process (threads and pooled connections).
SMS_SEND_CONCURRENCY = env.int("SMS_SEND_CONCURRENCY", default=32)
# "5,30" → (connect, read) seconds; one number is used for both.
_timeouts = env.list("SMS_SEND_TIMEOUT", cast=float, default=[5.0, 30.0])
if len(_timeouts) not in (1, 2) or min(_timeouts) <= 0:
    raise ImproperlyConfigured("SMS_SEND_TIMEOUT must be 'connect,read' seconds, e.g. 5,30.")
SMS_SEND_TIMEOUT = (_timeouts[0], _timeouts[-1])

# --- Logging --------------------------------------------------------------------------
# LOG_FORMAT=json (the default when DEBUG=0): one JSON object per line with the
# record's `extra=` fields (sendout_id, organisation_id, task_id, ...), for a log
# collector. plain (the default in development): one readable line.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if DEBUG else "json")
if LOG_FORMAT not in {"json", "plain"}:
    raise ImproperlyConfigured("LOG_FORMAT must be json or plain.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "config.logging.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # The Twilio SDK logs requests at INFO when its own client is used: keep
    # anything it might say about recipients out of production logs.
    "loggers": {"twilio": {"level": "WARNING"}},
}
# Sending: chunks of messages per task; transient errors retry with exponential
# backoff and jitter up to SMS_MAX_ATTEMPTS. A claim is a lease of
# SMS_LEASE_SECONDS, renewed while its worker sends; the sweeper (every
# SMS_SWEEP_INTERVAL seconds) takes over expired leases and reconciles them with
# the provider: found, `sent`; not found SMS_RECONCILE_GRACE seconds after the
# request could have ended, sent again; the provider unreachable for
# SMS_RECONCILE_GIVE_UP seconds, `unknown`. A sendout with pending messages and
# no progress for SMS_LOST_WORK_SECONDS lost its queued work: enqueued again.
SMS_CHUNK_SIZE = env.int("SMS_CHUNK_SIZE", default=200)
SMS_MAX_ATTEMPTS = env.int("SMS_MAX_ATTEMPTS", default=5)
# Test messages ("Send a test" in the modal) one user may send in an hour.
SMS_TEST_SENDS_PER_HOUR = env.int("SMS_TEST_SENDS_PER_HOUR", default=5)
SMS_RETRY_BACKOFF_BASE = env.float("SMS_RETRY_BACKOFF_BASE", default=1.0)
SMS_RETRY_BACKOFF_MAX = env.float("SMS_RETRY_BACKOFF_MAX", default=60.0)
SMS_LEASE_SECONDS = env.float("SMS_LEASE_SECONDS", default=45.0)
SMS_RECONCILE_GRACE = env.float("SMS_RECONCILE_GRACE", default=30.0)
SMS_RECONCILE_GIVE_UP = env.float("SMS_RECONCILE_GIVE_UP", default=900.0)
SMS_LOST_WORK_SECONDS = env.float("SMS_LOST_WORK_SECONDS", default=90.0)
SMS_SWEEP_INTERVAL = env.float("SMS_SWEEP_INTERVAL", default=10.0)
# A target group of more members than this has its messages written by the
# worker right after the Yes (sms.sendouts.write), not inside the Yes's request.
SMS_WRITE_INLINE_MAX = env.int("SMS_WRITE_INLINE_MAX", default=20_000)
# Scheduled sendouts: the dispatcher (beat) queues those that are due every
# SMS_SCHEDULE_INTERVAL seconds. SMS_CLOCK_FILE (tests and rehearsals only) names a
# file whose ISO 8601 time the scheduling decisions read instead of the real time.
SMS_SCHEDULE_INTERVAL = env.float("SMS_SCHEDULE_INTERVAL", default=15.0)
SMS_CLOCK_FILE = env.str("SMS_CLOCK_FILE", default="")
CELERY_BEAT_SCHEDULE = {
    # A sweep not started before the next one is due is dropped, not piled up.
    "sms-sweep": {
        "task": "sms.tasks.sweep",
        "schedule": SMS_SWEEP_INTERVAL,
        "options": {"expires": SMS_SWEEP_INTERVAL},
    },
    "sms-start-due": {
        "task": "sms.tasks.start_due",
        "schedule": SMS_SCHEDULE_INTERVAL,
        "options": {"expires": SMS_SCHEDULE_INTERVAL},
    },
}
# The sweeper has a queue of its own, so that it never waits behind a long sendout's
# chunks (crash recovery within seconds); a worker consumes both queues by default.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = (Queue("celery"), Queue("sms-sweep"))
CELERY_TASK_ROUTES = {
    "sms.tasks.sweep": {"queue": "sms-sweep"},
    "sms.tasks.start_due": {"queue": "sms-sweep"},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

"""Django settings for Segscope, read from the environment with defaults that run a checkout."""

import warnings
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_bool(name: str, default: bool) -> bool:
    """Read a boolean variable, refusing anything but the usual spellings."""
    raw = env.str(name, default="").strip().lower()
    if raw == "":
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    # environ's own bool() turns typos into False, which silently disables things.
    raise ImproperlyConfigured(
        f"{name}={raw!r} is not a boolean; use one of {sorted(_TRUE | _FALSE)}"
    )


def database_from_url(name: str, default: str) -> dict[str, object]:
    """Read a database URL, accepting only the engines Segscope runs on."""
    url = env.str(name, default=default)
    scheme = urlsplit(url).scheme
    if scheme not in {"sqlite", "postgres", "postgresql", "pgsql"}:
        raise ImproperlyConfigured(
            f"{name} must be a sqlite:// or postgres:// URL, got scheme {scheme!r}"
        )
    config: dict[str, object] = env.db_url_config(url)
    if not config.get("NAME"):
        raise ImproperlyConfigured(f"{name} names no database: {url!r}")
    return config


def pooled(config: dict[str, object], size: int) -> dict[str, object]:
    """A PostgreSQL database's settings with a pool of at most `size` connections a process."""
    options = config.get("OPTIONS")
    # Past max_size a request waits `timeout` seconds for a connection, then fails.
    pool = {"min_size": 1, "max_size": size, "timeout": 10}
    # A pooled connection is checked before each loan: one that a PostgreSQL restart broke is
    # replaced instead of failing the request that drew it.
    return {**config, "OPTIONS": {**(options if isinstance(options, dict) else {}), "pool": pool},
            "CONN_HEALTH_CHECKS": True}


def redis_from_url(name: str) -> str | None:
    """Read an optional Redis URL; unset means the embedded, single-process mode."""
    url = env.str(name, default="").strip()
    if not url:
        return None
    if urlsplit(url).scheme not in {"redis", "rediss", "unix"}:
        raise ImproperlyConfigured(f"{name} must be a redis://, rediss:// or unix:// URL")
    return url


def env_count(name: str, default: int) -> int:
    """Read a whole number, zero allowed, refusing negatives and non-numbers."""
    raw = env.str(name, default="").strip().replace("_", "")
    if raw == "":
        return default
    if not raw.isdigit():
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number")
    return int(raw)


def env_limit(name: str, default: int) -> int:
    """Read a positive integer limit, refusing zero, negatives and non-numbers."""
    raw = env.str(name, default="").strip().replace("_", "")
    if raw == "":
        return default
    if not raw.isdigit() or int(raw) <= 0:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a positive whole number")
    return int(raw)


DEBUG = env_bool("DEBUG", default=True)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "django-insecure-segscope-development-only"

ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # daphne first: its runserver serves the ASGI application, websockets included.
    "daphne",
    "whitenoise.runserver_nostatic",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "webapp.apps.SegscopeConfig",
    "webapp.inventory",
    "webapp.rules",
    "webapp.flows",
    "webapp.analysis",
    "webapp.policy",
    "webapp.audit",
    "webapp.api",
    "webapp.live",
    "webapp.ui",
]

# The whole chain runs synchronously, in the request's thread: WhiteNoise and the middleware of
# webapp/ are synchronous only, and Django hops between the event loop and a thread wherever
# the mode changes (Django's own middleware, run asynchronously, hops twice more each). A
# synchronous middleware last keeps Django from starting the chain asynchronously at the view.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "webapp.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # 429 for logins refused during a lockout, with the headers of the middleware above.
    "webapp.logins.LoginLockoutMiddleware",
]

ROOT_URLCONF = "webapp.urls"
WSGI_APPLICATION = "webapp.wsgi.application"
ASGI_APPLICATION = "webapp.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": database_from_url("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# Each process lends up to DATABASE_POOL_SIZE open PostgreSQL connections to its requests and
# tasks: opening one per request cost a web process more than a heartbeat's own work. 0 opens
# one per request (e.g. behind PgBouncer).
DATABASE_POOL_SIZE = env_count("DATABASE_POOL_SIZE", 10)
if DATABASE_POOL_SIZE and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"] = pooled(DATABASES["default"], DATABASE_POOL_SIZE)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Django's password check, refused past the login rate limits (webapp/logins.py).
AUTHENTICATION_BACKENDS = ["webapp.logins.RateLimitedModelBackend"]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "ui:start"
LOGOUT_REDIRECT_URL = "login"

SECURE_COOKIES = env_bool("SECURE_COOKIES", default=not DEBUG)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
if env_bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Sessions end with the working day rather than Django's two weeks; a login gets a new
# session key (Django's default), and the cookies are out of scripts' and other sites' reach.
SESSION_COOKIE_AGE = env_limit("SESSION_COOKIE_AGE", 12 * 60 * 60)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# HTTPS only in production: plain HTTP is redirected, except the health probe that the
# deployment's own checks call inside the network.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = 0 if DEBUG else env_limit("SECURE_HSTS_SECONDS", 365 * 24 * 60 * 60)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "frontend"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "webapp.ui.finders.PlotlyFinder",  # plotly.js from the plotly package, never a CDN
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # Hashed names need collectstatic first, which only deployments run.
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Development serves files straight from the finders, so collectstatic is a deployment step only.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
if DEBUG:
    warnings.filterwarnings("ignore", message="No directory at", module="whitenoise.base")

REDIS_URL = redis_from_url("REDIS_URL")

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = False
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CELERY_BROKER_URL = "memory://"
    # No broker: run tasks inline so a plain checkout still analyses what it ingests.
    CELERY_TASK_ALWAYS_EAGER = True
# The cache holds the login and ingest rate-limit counts, which every web process must share.
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": REDIS_URL, "KEY_PREFIX": "segscope",
                          "OPTIONS": {"pool_class": "webapp.cachepool.SharedConnectionPool"}}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker waits for a broker that went down however long it stays down instead of exiting;
# on every (re)connection it asks for a sweep of the dirty flags set meanwhile (webapp/celery.py).
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# A task is acknowledged once it has run, and one whose worker process died under it (SIGKILL,
# out of memory) goes back to the queue: an analysis is run again rather than lost.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
# Convergence and the segment graph page's data read the whole fleet's history and take
# minutes at fleet scale: they wait in their own queue, so that a worker taking only `celery`
# (-Q celery) keeps analysing snapshots while another one (-Q background) works through them.
# A worker started without -Q takes both (docs/deploy.md).
CELERY_TASK_QUEUES = (Queue("celery", Exchange("celery"), routing_key="celery"),
                      Queue("background", Exchange("background"), routing_key="background"))
CELERY_TASK_ROUTES = {
    "webapp.analysis.tasks.compute_convergence_task": {"queue": "background"},
    "webapp.ui.tasks.warm_segment_graph_task": {"queue": "background"},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.BasicAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["webapp.api.permissions.IsViewer"],
    "DEFAULT_PAGINATION_CLASS": "webapp.api.pagination.StandardPagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "webapp.api.schema.RoleAutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Segscope API",
    "DESCRIPTION": "Effective connectivity, drift and convergence of a fleet's host firewalls.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Served from the sidecar package: operators' machines may be offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several answers carry a `status`: each set of values gets a name of its own.
    "ENUM_NAME_OVERRIDES": {
        "IngestStatusEnum": ["created", "seen-again"],
        "SegmentEdgeStatusEnum": ["full", "partial"],
        # explain's hook and the service matrix's chain are the same three built-in chains.
        "PathEnum": ["INPUT", "FORWARD", "OUTPUT"],
    },
}

# Ingest limits: larger requests are refused with 413 (docs/ingest.md).
SEGSCOPE_MAX_UPLOAD_BYTES = env_limit("SEGSCOPE_MAX_UPLOAD_BYTES", 32 * 1024 * 1024)
SEGSCOPE_MAX_RULES = env_limit("SEGSCOPE_MAX_RULES", 500_000)
SEGSCOPE_MAX_FLOW_BATCH = env_limit("SEGSCOPE_MAX_FLOW_BATCH", 200_000)
# A host's analysis that shows no progress for this long is taken to have died with its
# worker; the sweep flags the host again.
SEGSCOPE_ANALYSIS_LEASE_SECONDS = env_limit("SEGSCOPE_ANALYSIS_LEASE_SECONDS", 600)
# Hosts one analysis task analyses on one fleet state: its own and others due by then.
SEGSCOPE_ANALYSIS_BATCH = env_limit("SEGSCOPE_ANALYSIS_BATCH", 50)


def env_rate(name: str, default: str) -> str:
    """Read a rate as DRF's throttles take it: `N/second`, `N/minute`, `N/hour` or `N/day`."""
    raw = env.str(name, default=default).strip()
    count, _, period = raw.partition("/")
    if not count.isdigit() or int(count) <= 0 or period[:1] not in {"s", "m", "h", "d"}:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a rate such as 600/minute")
    return raw


# Rate limits (docs/security.md): ingest requests per agent token, answered 429 past it; failed
# logins per user name and per client address within the window, locked out for the lockout.
SEGSCOPE_INGEST_RATE = env_rate("SEGSCOPE_INGEST_RATE", "600/minute")
SEGSCOPE_LOGIN_FAILURES_PER_USER = env_limit("SEGSCOPE_LOGIN_FAILURES_PER_USER", 5)
SEGSCOPE_LOGIN_FAILURES_PER_ADDRESS = env_limit("SEGSCOPE_LOGIN_FAILURES_PER_ADDRESS", 50)
SEGSCOPE_LOGIN_WINDOW_SECONDS = env_limit("SEGSCOPE_LOGIN_WINDOW_SECONDS", 15 * 60)
SEGSCOPE_LOGIN_LOCKOUT_SECONDS = env_limit("SEGSCOPE_LOGIN_LOCKOUT_SECONDS", 15 * 60)

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"LOG_LEVEL={LOG_LEVEL!r} is not a logging level")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False}},
}

"""Django settings. Every value a deployment may change comes from the environment
(see the configuration table in README.md); the defaults suit a laptop."""

import datetime as dt
import secrets
from decimal import Decimal
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


def _local_secret_key() -> str:
    """A random key kept in var/ so that a laptop never runs on a published default."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="") or _local_secret_key()
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "axes",
    "chatapp.chat",
    "chatapp.attachments",
    "chatapp.llm",
    "chatapp.usage",
    "chatapp.batches",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last: it answers a locked-out sign-in with the lockout page (templates/registration).
    "axes.middleware.AxesMiddleware",
]

# Login throttling (django-axes) on both sign-in pages: after LOGIN_FAILURE_LIMIT failures
# for one user name, or from one address, sign-in is refused for LOGIN_COOLOFF_MINUTES,
# whether or not the user name exists (so it tells nothing of which do).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
LOGIN_COOLOFF_MINUTES = env.int("LOGIN_COOLOFF_MINUTES", default=15)
# Trusted proxies in front of the app (nginx: 1), for the client's address.
DJANGO_PROXY_COUNT = env.int("DJANGO_PROXY_COUNT", default=0)
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = dt.timedelta(minutes=LOGIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each counted on its own
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "chatapp.security.client_ip"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False

ROOT_URLCONF = "chatapp.urls"
ASGI_APPLICATION = "chatapp.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "chatapp.chat.context_processors.demo_mode",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Replies are saved from worker threads while pages read: wait for the lock instead of
    # failing, and let readers work beside the writer.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
# Keep connections open between requests (the chat's ORM threads reuse theirs).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "capacity": 1000, "expiry": 30},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "chat:index"
LOGOUT_REDIRECT_URL = "login"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# HTTPS in production (docs/deployment.md): the redirect, HSTS, and the header by which a
# proxy says the request came over HTTPS. Off on a laptop.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
if env.bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"
# No inline script anywhere (the pages' data is JSON in <script type="application/json">);
# styles may be set inline (the admin's widgets do). Images: the app's own, and the
# composer's previews of files not yet uploaded (blob:).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("DJANGO_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# Uploaded attachments go through Django's storage API: the local MEDIA_ROOT by default,
# any backend (e.g. S3 through django-storages) by setting STORAGES in a deployment.
MEDIA_ROOT = Path(env.str("DJANGO_MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "media/"  # never served as is: attachments are served by their view only

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "chatapp": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")}
    },
}

# --- Anthropic -------------------------------------------------------------------------
# Key and base URL are read as the SDK reads them; empty means "the SDK's own default".
ANTHROPIC_API_KEY = env.str("ANTHROPIC_API_KEY", default="")
ANTHROPIC_BASE_URL = env.str("ANTHROPIC_BASE_URL", default="")
# Retries with backoff on 408/409/429/5xx and connection errors, before the first byte of a
# reply only: the SDK's own retry logic, made explicit here.
ANTHROPIC_MAX_RETRIES = env.int("ANTHROPIC_MAX_RETRIES", default=2)
ANTHROPIC_TIMEOUT = env.float("ANTHROPIC_TIMEOUT", default=600.0)

# --- Chat ------------------------------------------------------------------------------
# Demo mode: set by the run command when no API key is given; replies come from the
# built-in fake Anthropic API and every page says so.
CHAT_DEMO_MODE = env.bool("CHAT_DEMO_MODE", default=False)
CHAT_DEFAULT_MODEL = env.str("CHAT_DEFAULT_MODEL", default="claude-sonnet-5")
# The model that writes titles; empty: the cheapest Haiku of the catalogue (chat/titles.py).
CHAT_TITLE_MODEL = env.str("CHAT_TITLE_MODEL", default="")
CHAT_TITLES = env.bool("CHAT_TITLES", default=True)
# Prompt caching of every request's prefix, and the cache's lifetime ("5m" or "1h").
CHAT_PROMPT_CACHING = env.bool("CHAT_PROMPT_CACHING", default=True)
CHAT_CACHE_TTL = env.str("CHAT_CACHE_TTL", default="5m")
# How many times a reply paused by the API (`pause_turn`) is continued by itself.
CHAT_PAUSE_TURN_CONTINUES = env.int("CHAT_PAUSE_TURN_CONTINUES", default=3)
# A streaming reply's text and usage so far are saved every this many seconds (and at each
# block's end), so a crash keeps them; its process renews its lease on it, and a reply
# whose lease runs out (its process died) is recovered by any other process.
CHAT_CHECKPOINT_SECONDS = env.float("CHAT_CHECKPOINT_SECONDS", default=2.0)
CHAT_REPLY_LEASE_SECONDS = env.float("CHAT_REPLY_LEASE_SECONDS", default=15.0)
if CHAT_CACHE_TTL not in ("5m", "1h"):
    raise ImproperlyConfigured(f"CHAT_CACHE_TTL is 5m or 1h, not {CHAT_CACHE_TTL!r}.")
CHAT_DEFAULT_MAX_TOKENS = env.int("CHAT_DEFAULT_MAX_TOKENS", default=4096)
CHAT_MAX_MESSAGE_CHARS = env.int("CHAT_MAX_MESSAGE_CHARS", default=100_000)
CHAT_MAX_SYSTEM_CHARS = env.int("CHAT_MAX_SYSTEM_CHARS", default=100_000)
# Frames a socket may send: this many at once, then this many a second; a tab that sends
# more is closed (code 4429).
CHAT_SOCKET_FRAME_BURST = env.int("CHAT_SOCKET_FRAME_BURST", default=60)
CHAT_SOCKET_FRAMES_PER_SECOND = env.float("CHAT_SOCKET_FRAMES_PER_SECOND", default=20.0)
CHAT_MAX_STOP_SEQUENCES = env.int("CHAT_MAX_STOP_SEQUENCES", default=8)
# Frames a tab may have queued before the server stops queueing deltas for it and sends
# one resync frame with the whole reply so far instead.
CHAT_CLIENT_BUFFER_FRAMES = env.int("CHAT_CLIENT_BUFFER_FRAMES", default=256)
# Milliseconds a text delta may wait for the next ones to join it into one frame (the first
# delta after a pause is never held back); 0 joins only what has queued up anyway.
CHAT_DELTA_JOIN_MS = env.float("CHAT_DELTA_JOIN_MS", default=0.0)
# Relay live replies to the tabs of other server processes through the channel layer
# (on by default with Redis), in batches of at most this many milliseconds.
CHAT_CROSS_PROCESS = env.bool("CHAT_CROSS_PROCESS", default=bool(REDIS_URL))
CHAT_RELAY_BATCH_MS = env.float("CHAT_RELAY_BATCH_MS", default=20.0)
# Threads that run the chat's database work, each with its own connection: the work people
# wait on (sends, opening a conversation), and the saving of ended replies (chat/db.py).
CHAT_DB_THREADS = env.int("CHAT_DB_THREADS", default=8)
CHAT_DB_SETTLE_THREADS = env.int("CHAT_DB_SETTLE_THREADS", default=1)
for _name in ("CHAT_DB_THREADS", "CHAT_DB_SETTLE_THREADS"):
    if globals()[_name] < 1:
        raise ImproperlyConfigured(f"{_name} must be at least 1, not {globals()[_name]}")
# Attachments (chatapp/attachments): size limits by kind, checked by content.
CHAT_IMAGE_MAX_BYTES = env.int("CHAT_IMAGE_MAX_BYTES", default=20 * 1024 * 1024)
CHAT_PDF_MAX_BYTES = env.int("CHAT_PDF_MAX_BYTES", default=32 * 1024 * 1024)
CHAT_TEXT_MAX_BYTES = env.int("CHAT_TEXT_MAX_BYTES", default=2 * 1024 * 1024)
CHAT_PDF_MAX_PAGES = env.int("CHAT_PDF_MAX_PAGES", default=100)
# Larger images are refused before decoding (decompression bombs); smaller ones are
# scaled down to the API's recommended long edge before they are stored.
CHAT_IMAGE_MAX_PIXELS = env.int("CHAT_IMAGE_MAX_PIXELS", default=50_000_000)
CHAT_IMAGE_LONG_EDGE = env.int("CHAT_IMAGE_LONG_EDGE", default=1568)
CHAT_MAX_ATTACHMENTS = env.int("CHAT_MAX_ATTACHMENTS", default=20)
# Send attachments once through the Files API and refer to them by file_id, instead of
# sending them in base64 with every request.
CHAT_USE_FILES_API = env.bool("CHAT_USE_FILES_API", default=False)
# Web search and web fetch (server tools), where a conversation turns them on: at most
# this many of each per reply.
CHAT_WEB_SEARCH_MAX_USES = env.int("CHAT_WEB_SEARCH_MAX_USES", default=5)
# Serve /static/ from the app server itself (fine for a small team; put a web server or a
# CDN in front for more, after `manage.py collectstatic`).
SERVE_STATIC = env.bool("DJANGO_SERVE_STATIC", default=True)

# --- Usage and budgets (defaults for the usage policy row, editable in the admin) -------
# Empty: no limit unless an admin sets one.
_budget = env.str("USAGE_DEFAULT_MONTHLY_BUDGET_USD", default="")
try:
    USAGE_DEFAULT_MONTHLY_BUDGET_USD = Decimal(_budget) if _budget else None
except ArithmeticError:
    raise ImproperlyConfigured(
        f"USAGE_DEFAULT_MONTHLY_BUDGET_USD must be an amount in USD, not {_budget!r}"
    ) from None
USAGE_MAX_TOKENS_CAP = env.int("USAGE_MAX_TOKENS_CAP", default=8192)
USAGE_REQUESTS_PER_MINUTE = env.int("USAGE_REQUESTS_PER_MINUTE", default=20)
# Seconds each server process keeps the usage policy and prices it read (a change made in
# the admin applies at once in its own process, within this time in the others).
USAGE_SETTINGS_CACHE_SECONDS = env.float("USAGE_SETTINGS_CACHE_SECONDS", default=10.0)

# --- Batch jobs (chatapp/batches) --------------------------------------------------------
# The API's limits per batch: a larger job is split into several batches (lower them to
# split sooner; the worker holds one batch's body in memory while it sends it).
BATCH_MAX_REQUESTS = env.int("BATCH_MAX_REQUESTS", default=100_000)
BATCH_MAX_BYTES = env.int("BATCH_MAX_BYTES", default=256 * 1000 * 1000)
# The largest file and the most rows one job may have (checked before anything is stored).
BATCH_MAX_UPLOAD_BYTES = env.int("BATCH_MAX_UPLOAD_BYTES", default=512 * 1000 * 1000)
BATCH_MAX_ROWS = env.int("BATCH_MAX_ROWS", default=500_000)
# The upload form's starting max_tokens per answer (the budget holds rows x max_tokens).
BATCH_DEFAULT_MAX_TOKENS = env.int("BATCH_DEFAULT_MAX_TOKENS", default=1024)
# A running batch is polled after this many seconds, then twice as long each time, up to
# the maximum (failed calls back off the same way).
BATCH_POLL_SECONDS = env.float("BATCH_POLL_SECONDS", default=10.0)
BATCH_POLL_MAX_SECONDS = env.float("BATCH_POLL_MAX_SECONDS", default=300.0)
# Results imported per transaction, as the results stream in.
BATCH_IMPORT_CHUNK = env.int("BATCH_IMPORT_CHUNK", default=500)
# How long the idle worker sleeps before it looks for new jobs and cancels.
BATCH_WORKER_IDLE_SECONDS = env.float("BATCH_WORKER_IDLE_SECONDS", default=2.0)
# `serve` starts the batch worker beside the server (off: run `manage.py batch_worker`).
BATCH_WORKER = env.bool("BATCH_WORKER", default=True)

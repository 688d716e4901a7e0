# The one image for every process: web (gunicorn), worker, beat and migrate.
# Build: docker compose build   (see README.md, "Deployment")
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    DJANGO_SETTINGS_MODULE=config.settings \
    VAR_DIR=/app/var \
    STATIC_ROOT=/app/staticfiles

WORKDIR /app

# Dependencies first (a layer that changes only with pyproject.toml): install the
# project once from its metadata with empty packages, then the real source.
COPY pyproject.toml README.md ./
RUN mkdir -p config core crm targetgroups sms \
    && touch config/__init__.py core/__init__.py crm/__init__.py targetgroups/__init__.py \
       sms/__init__.py \
    && pip install . \
    && pip uninstall --yes crm-sms \
    && rm -rf config core crm targetgroups sms build *.egg-info

COPY . .
RUN pip install --no-deps . \
    && rm -rf build *.egg-info

# Translations (.po → .mo, pure Python, no GNU gettext) and hashed, compressed
# static files for whitenoise. Settings need production values to load: these are
# build-time placeholders, never used at run time.
RUN python tools/compilemessages.py \
    && DEBUG=0 SECRET_KEY=build-time-only-placeholder-not-a-secret-0000 ALLOWED_HOSTS=build \
       python manage.py collectstatic --noinput

# Run as an unprivileged user; only var/ (file broker, beat schedule) is writable.
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin app \
    && mkdir -p /app/var \
    && chown -R app:app /app/var
USER app

EXPOSE 8000
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]

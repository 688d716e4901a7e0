"""The project package: settings, URLs, the Celery app, WSGI/ASGI entry points,
logging and the health check. It wires the apps together and is the top layer:
nothing of ours imports it except through Django's settings and entry points.

The Celery app is loaded here so that ``@shared_task`` binds to it whenever
Django starts (``celery -A config worker`` finds it as ``config.celery_app``).
"""

from config.celery import app as celery_app

__all__ = ("celery_app",)

"""Celery application for Segscope's background analysis."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("segscope")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

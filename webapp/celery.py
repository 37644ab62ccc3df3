"""Celery application for Segscope's background analysis."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("segscope")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Periodic work. `expires` drops a sweep that waited past the next one (a worker was down).
app.conf.beat_schedule = {
    "sweep-due-analyses": {
        "task": "webapp.analysis.tasks.sweep_due_analyses_task",
        "schedule": 60.0,
        "options": {"expires": 55.0},
    },
}

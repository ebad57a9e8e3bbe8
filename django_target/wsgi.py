"""The WSGI entry point (gunicorn + gevent workers): Django serving the sync endpoints only."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ["DJANGO_TARGET_INTERFACE"] = "wsgi"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_target.settings")

application = get_wsgi_application()

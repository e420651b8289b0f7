"""Where recordings live: any Django storage (local files by default, django-storages for S3 & co)."""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.core.files.storage import Storage
from django.utils.module_loading import import_string

from cpaas.voice import conf


@cache
def recordings_storage() -> Storage:
    cls = import_string(conf.VOICE_RECORDINGS_STORAGE)
    options = dict(conf.VOICE_RECORDINGS_STORAGE_OPTIONS)
    if conf.VOICE_RECORDINGS_STORAGE == "django.core.files.storage.FileSystemStorage":
        options.setdefault("location", str(settings.VAR_DIR / "recordings"))
    return cls(**options)

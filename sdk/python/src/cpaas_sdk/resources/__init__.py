"""The resource classes: ``_async.py`` is written by hand, ``_sync.py`` generated from it."""

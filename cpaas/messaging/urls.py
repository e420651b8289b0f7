"""This room's /v1/ routes (included by cpaas/urls.py)."""

urlpatterns: list = []

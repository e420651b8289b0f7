"""Serves docs/*.md rendered as HTML at /docs/<page>, so every error's doc_url resolves."""

from __future__ import annotations

import re

import markdown
from django.conf import settings
from django.http import Http404, HttpResponse

_PAGE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def doc_page(request, page: str = "index"):
    if not _PAGE.match(page):
        raise Http404
    path = settings.BASE_DIR / "docs" / f"{page}.md"
    if not path.is_file():
        raise Http404
    html = markdown.markdown(path.read_text(), extensions=["tables", "fenced_code", "toc"])
    return HttpResponse(
        "<!doctype html><meta charset=utf-8><title>CPaaS docs</title>"
        "<style>body{font:16px/1.5 system-ui;max-width:52rem;margin:2rem auto;padding:0 1rem}"
        "code,pre{background:#f4f4f5}pre{padding:1rem;overflow:auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ddd;padding:.3rem .6rem}</style>" + html
    )

"""Serves docs/*.md rendered as HTML at /docs/<page>, so every error's doc_url resolves."""

from __future__ import annotations

import re

import markdown
from django.conf import settings
from django.http import Http404, HttpResponse
from django.templatetags.static import static

# A page of docs/ or docs/decisions/; the ".md" the docs' own links carry (they are written to work
# on GitHub too) is accepted, so following a link between two served pages does not 404.
_PAGE = re.compile(r"^(?:decisions/)?[a-z0-9][a-z0-9_-]*$")


def doc_page(request, page: str = "index"):
    page = page.removesuffix(".md")
    if not _PAGE.match(page):
        raise Http404
    path = settings.BASE_DIR / "docs" / f"{page}.md"
    if not path.is_file():
        raise Http404
    html = markdown.markdown(path.read_text(), extensions=["tables", "fenced_code", "toc"])
    return HttpResponse(
        "<!doctype html><meta charset=utf-8><title>CPaaS docs</title>"
        f'<link rel="stylesheet" href="{static("core/docs.css")}">' + html
    )

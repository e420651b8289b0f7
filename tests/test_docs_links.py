"""Every relative link between the docs resolves: the file exists, and an anchor names a heading
(GitHub's slugs) or an explicit ``<a id>`` of that file. Moving a section between pages must not
leave a dead link behind."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "docs" / "decisions").glob("*.md")])

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
CODE = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)
EXPLICIT_ID = re.compile(r"""<a\s+(?:id|name)=["']([^"']+)["']""")


def _prose(text: str) -> str:
    """The page without code blocks and code spans, where brackets are not links."""
    return CODE.sub("", FENCE.sub("", text))


def anchors(path: Path) -> set[str]:
    """GitHub's anchors of a page: each heading lowercased, punctuation dropped, spaces to
    hyphens, a repeated slug numbered ``-1``, ``-2``…; plus explicit ``<a id>`` targets."""
    text = path.read_text()
    found: set[str] = set(EXPLICIT_ID.findall(text))
    seen: dict[str, int] = {}
    for heading in HEADING.findall(FENCE.sub("", text)):
        heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def targets(page: Path) -> list[str]:
    return [t for t in LINK.findall(_prose(page.read_text())) if not re.match(r"^[a-z]+:|^/", t)]


def resolve(page: Path, target: str) -> tuple[Path | None, str]:
    """The file a relative link points to (``docs/index.md`` links pages without ``.md``, as the
    server serves them) and its anchor."""
    path, _, anchor = target.partition("#")
    if not path:
        return page, anchor
    base = (page.parent / path).resolve()
    for candidate in (base, base.with_name(base.name + ".md")):
        if candidate.exists():
            return candidate, anchor
    return None, anchor


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_of_a_page_resolves(page):
    broken = []
    for target in targets(page):
        path, anchor = resolve(page, target)
        if path is None:
            broken.append(f"{target}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{target}: no heading or anchor #{anchor} in {path.relative_to(ROOT)}")
    assert not broken, broken


def test_the_slugs_are_githubs():
    page = ROOT / "docs" / "benchmarks.md"
    assert "sms-benchsmspy" in anchors(page)
    assert "6-december-2026-before-and-after-the-trust-work-issue-13-1" in anchors(page)

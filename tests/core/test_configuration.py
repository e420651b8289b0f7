"""Configuration has one reader and one table: every variable is read through ``cpaas.core.env``
and listed in docs/configuration.md, and every variable listed there is read."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("cpaas", "webhooks", "billing")
READER = Path("cpaas/core/env.py")
# Writes, not reads: entry points name the settings module, the ASGI server sizes its pool, and a
# command hands its environment to the processes it starts.
WRITES = {
    "setdefault": {Path("cpaas/asgi.py"), Path("cpaas/wsgi.py"), Path("cpaas/celery.py")},
    "dict": {Path("cpaas/core/management/commands/runplatform.py")},
}
READERS = {"str", "int", "float", "bool", "list", "json", "url"}


def _sources():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path.relative_to(ROOT), ast.parse(path.read_text())


def _parents(tree):
    parents = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
    return parents


def _environment_uses(path, tree):
    """Lines where ``path`` touches the process environment other than through the reader."""
    parents = _parents(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "os" and \
                any(alias.name in {"environ", "getenv", "environb"} for alias in node.names):
            yield node.lineno
        if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os"
                and node.attr in {"environ", "getenv", "environb", "putenv"}):
            continue
        parent = parents.get(node)
        if node.attr == "environ" and isinstance(parent, ast.Attribute) and parent.attr == "setdefault" \
                and path in WRITES["setdefault"]:
            continue
        if node.attr == "environ" and isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name) \
                and parent.func.id == "dict" and path in WRITES["dict"]:
            continue
        yield node.lineno


def variables_read() -> set[str]:
    names = set()
    for _path, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in READERS \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "env" and node.args \
                    and isinstance(node.args[0], ast.Constant):
                names.add(node.args[0].value)
                for keyword in node.keywords:
                    if keyword.arg == "old" and isinstance(keyword.value, ast.Constant):
                        names.add(keyword.value.value)
    return names


def variables_documented() -> set[str]:
    names = set()
    for line in (ROOT / "docs/configuration.md").read_text().splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", first_cell))
    return names


def test_no_module_reads_the_environment_but_the_reader():
    offenders = [f"{path}:{line}" for path, tree in _sources() if path != READER
                 for line in _environment_uses(path, tree)]
    assert offenders == [], "read settings with cpaas.core.env.env instead of os.environ"


def test_the_check_sees_a_direct_read():
    tree = ast.parse('import os\nA = os.environ.get("A")\nB = os.getenv("B")\nos.environ.setdefault("C", "1")\n')
    assert sorted(_environment_uses(Path("cpaas/x/conf.py"), tree)) == [2, 3, 4]


def test_every_variable_read_is_documented():
    assert sorted(variables_read() - variables_documented()) == []


def test_every_documented_variable_is_read():
    assert sorted(variables_documented() - variables_read()) == []

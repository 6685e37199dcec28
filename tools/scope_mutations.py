"""Prove the isolation sweep is not blind: remove each tenant-scope check in turn and expect
tests/test_tenant_isolation.py to fail.

    .venv/bin/python tools/scope_mutations.py            # every check in the portal's view modules

Each `get_scoped_or_404(...)` becomes an unscoped get and each `scoped(...)` returns its query
unchanged, one at a time, inside classes whose views an enterprise can reach (their
class_permission_name is in app.roles.PORTAL_VIEW_NAMES). The file is restored after each run.
Exit status 1 if any removal leaves the sweep green.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(SOURCE))
HELPERS = """

def _mutant_get(model, pk, user=None):  # scope check removed by tools/scope_mutations.py
    from flask import abort

    from app import db

    row = db.session.get(model, pk)
    if row is None:
        abort(404)
    return row


def _mutant_scoped(statement, model, user=None):  # scope check removed by tools/scope_mutations.py
    return statement
"""


def portal_names() -> frozenset[str]:
    from app.roles import PORTAL_VIEW_NAMES

    return PORTAL_VIEW_NAMES


def class_permission(node: ast.ClassDef) -> str | None:
    for statement in node.body:
        if isinstance(statement, ast.Assign):
            for target in statement.targets:
                if isinstance(target, ast.Name) and target.id == "class_permission_name":
                    if isinstance(statement.value, ast.Constant):
                        return statement.value.value
    return None


def checks(path: Path, portal: frozenset[str]):
    """(line, column, function name, enclosing class) of each scope check in a portal class.

    Base classes without a permission name of their own (the generic application pages) count too:
    every portal subclass inherits their checks.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for cls in [n for n in tree.body if isinstance(n, ast.ClassDef)]:
        permission = class_permission(cls)
        if permission is not None and permission not in portal:
            continue
        for node in ast.walk(cls):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                own_row = "g.user" in ast.unparse(node)  # the signed-in user's own row, never a URL's id
                if node.func.id in ("get_scoped_or_404", "scoped") and not own_row:
                    yield node.func.lineno, node.func.col_offset, node.func.id, cls.name


def mutate(source: str, line: int, column: int, name: str) -> str:
    lines = source.splitlines(keepends=True)
    text = lines[line - 1]
    replacement = "_mutant_get" if name == "get_scoped_or_404" else "_mutant_scoped"
    assert text[column : column + len(name)] == name
    lines[line - 1] = text[:column] + replacement + text[column + len(name) :]
    return "".join(lines) + HELPERS


def main() -> int:
    """Mutates a copy of the checkout (never the working tree) and runs the sweep there."""
    portal = portal_names()
    blind = []
    total = 0
    scratch = Path(tempfile.mkdtemp(prefix="scope-mutations-"))
    ROOT = scratch / "tree"
    shutil.copytree(
        SOURCE, ROOT, ignore=shutil.ignore_patterns(".venv", ".git", "instance", "build", "__pycache__", "*.pyc")
    )
    for path in sorted((ROOT / "app" / "views").glob("*.py")):
        original = path.read_text(encoding="utf-8")
        for line, column, name, cls in checks(path, portal):
            total += 1
            where = f"{path.relative_to(ROOT)}:{line} {cls} {name}"
            path.write_text(mutate(original, line, column, name), encoding="utf-8")
            try:
                result = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "pytest",
                        "-x",
                        "-q",
                        "-p",
                        "no:cacheprovider",
                        "tests/test_tenant_isolation.py",
                    ],
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                )
            finally:
                path.write_text(original, encoding="utf-8")
            caught = result.returncode != 0
            print(f"{'caught' if caught else 'BLIND '}  {where}", flush=True)
            if not caught:
                blind.append(where)
    shutil.rmtree(scratch, ignore_errors=True)
    print(f"{total - len(blind)} of {total} removed scope checks fail the sweep")
    return 1 if blind else 0


if __name__ == "__main__":
    sys.exit(main())

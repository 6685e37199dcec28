"""Chinese catalogue: complete (no untranslated or fuzzy entry) and in step with the source."""

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "app" / "translations" / "zh" / "LC_MESSAGES" / "messages.po"


def catalogue():
    with PO.open("rb") as handle:
        return read_po(handle, locale="zh")


def test_zh_catalogue_has_no_untranslated_or_fuzzy_entry():
    problems = [m.id for m in catalogue() if m.id and (m.fuzzy or not m.string)]
    assert problems == []


def test_shared_pocheck_agrees():
    tool = ROOT.parent / "shared" / "tools" / "pocheck.py"
    if not tool.exists():
        return  # the shared tool sits beside checkouts made by the team; the test above is the rule
    result = subprocess.run([sys.executable, str(tool), str(PO)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_message_in_the_source_is_in_the_catalogue(tmp_path):
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [
            str(Path(sys.executable).parent / "pybabel"),
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "-o",
            str(pot),
            ".",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with pot.open("rb") as handle:
        source_ids = {m.id for m in read_po(handle) if m.id}
    catalogue_ids = {m.id for m in catalogue() if m.id}
    missing = source_ids - catalogue_ids
    assert not missing, f"run `make extract-messages` and translate: {sorted(missing)}"


def test_catalogue_overrides_fab(app, client):
    # FAB's own catalogue leaves "Add" untranslated; ours supplies it.
    from flask_babel import gettext

    with app.test_request_context():
        from flask import session

        session["locale"] = "zh"
        assert gettext("Add") == "新增"
        assert gettext("Sign In") == "登录"

"""docs/validation.md's preset ledger covers every preset, and its links lead somewhere.

The ledger ("Presets: what each is grounded on") is the one place a reader learns what a
preset was fitted on and checked against. A preset added without a row, a row for a preset
that is gone, or a link to a section that was renamed would leave it silently wrong, so each
is a failure here (fix the ledger, not the test).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "validation.md"
HEADING = "## Presets: what each is grounded on"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {
        _slug(line.lstrip("#")) for line in path.read_text().splitlines() if line.startswith("#")
    }


def _ledger_rows() -> list[str]:
    text = DOC.read_text()
    assert HEADING in text, f"{DOC.name} has no ledger section"
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| `")]


def test_every_preset_has_exactly_one_row() -> None:
    named = [re.match(r"\| `([^`]+)`", row).group(1) for row in _ledger_rows()]  # type: ignore[union-attr]
    presets = sorted(p.stem for p in (ROOT / "hw_profiles").glob("*.yaml"))
    assert sorted(named) == presets


def test_every_section_link_resolves() -> None:
    local = _anchors(DOC)
    broken = []
    for row in _ledger_rows():
        for target, anchor in re.findall(r"\]\(([\w.]*)#([^)]+)\)", row):
            anchors = local if not target else _anchors(DOC.parent / target)
            if anchor not in anchors:
                broken.append(f"{target}#{anchor}")
    assert not broken, broken

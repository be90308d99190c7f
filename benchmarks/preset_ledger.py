"""Count, per preset, the constants its YAML marks as assumed (for docs/validation.md's ledger).

A constant counts when its line carries a value and its comment says "assumed" (the word, in
any form the presets use: "# assumed: ...", "... (assumed)", "assumed = measured on ...").
Header comments that describe a method ("mac_pj = assumed share of TDP ...") are not counted,
only the values they explain. Each constant is named by its dotted path (memory levels by
their ``name``), so the ledger can say which ones they are.

Run: ``python benchmarks/preset_ledger.py [--keys]``; prints one line per preset.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRESETS = ROOT / "hw_profiles"
_LINE = re.compile(r"^(?P<indent>\s*)(?P<dash>-\s+)?(?P<key>[A-Za-z0-9_]+):\s*(?P<rest>.*)$")


def assumed_keys(path: Path) -> list[str]:
    """Dotted paths of the value lines whose comment says 'assumed' (and not 'fitted')."""
    stack: list[tuple[int, str]] = []  # (indent, key) of the open mappings
    found: list[str] = []
    for line in path.read_text().splitlines():
        match = _LINE.match(line)
        if match is None or line.lstrip().startswith("#"):
            continue
        indent = len(match["indent"]) + (2 if match["dash"] else 0)
        value, _, comment = match["rest"].partition("#")
        key = match["key"]
        if match["dash"]:  # a list item opens a mapping named by its `name` (memory levels)
            indent -= 1
            key = value.strip() if key == "name" else key
        while stack and stack[-1][0] >= indent:
            stack.pop()
        if match["dash"]:
            stack.append((indent, key))
            continue
        if not value.strip():
            stack.append((indent, key))
            continue
        text = comment.lower()
        if "assumed" in text and not text.lstrip().startswith("fitted"):
            found.append(".".join([k for _, k in stack] + [key]))
    return found


def main() -> None:
    show_keys = "--keys" in sys.argv[1:]
    for path in sorted(PRESETS.glob("*.yaml")):
        keys = assumed_keys(path)
        print(
            f"{path.stem:<22}{len(keys):>3} assumed" + (f": {', '.join(keys)}" if show_keys else "")
        )


if __name__ == "__main__":
    main()

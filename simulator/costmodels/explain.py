"""Why a compressed layer did or did not get faster on a given hardware.

The cost models say what they exploited (a sparse kernel, N:M tensor cores, zero-skipping);
this module says the rest: zeros the hardware cannot use and why, so a per-layer report
answers "I pruned it 80% — why is it not faster?" without the user reading the cost model.
"""

from __future__ import annotations

from ..cost import OpCost
from ..hardware import Profile
from ..ops import MAC_KINDS, SPARSITY_PATTERNS, Op

_EXPLOITED = ("sparse", "zero-skipping", "2:4", "4:8")


def _patterns_present(op: Op) -> list[str]:
    stats = op.weight_stats
    if stats is None:
        return []
    kept = {p: stats.kept_fraction(p) for p in SPARSITY_PATTERNS}
    return [p for p, fraction in kept.items() if fraction is not None and fraction < 1.0]


def sparsity_note(op: Op, cost: OpCost | None, profile: Profile) -> str:
    """One sentence on the op's weight zeros here ("" for a dense op or an exploited one)."""
    stats = op.weight_stats
    if cost is None or op.kind not in MAC_KINDS or stats is None or stats.density >= 0.99:
        return ""
    if any(key in note for note in cost.notes for key in _EXPLOITED):
        return ""
    zeros = f"{1 - stats.density:.0%} zero weights"
    supported = sorted(profile.sparsity_patterns)
    if not supported:
        return f"{zeros} not exploited: {profile.name} has no sparse execution"
    usable = [p for p in _patterns_present(op) if p in profile.sparsity_patterns]
    if not usable:
        return (
            f"{zeros} not exploited: {profile.name} skips only {', '.join(supported)} "
            "and these zeros do not form that pattern"
        )
    return f"{zeros} in a supported pattern ({', '.join(usable)}), but not faster than dense here"

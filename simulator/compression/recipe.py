"""Recipe files: mixed per-layer compression as a YAML list of rules.

A recipe is what a deployment engineer writes after a sensitivity study: keep the stem and
the classifier dense, 2:4 the big 3x3 convs, int8 everything. Each op takes the *first* rule
whose ``layers`` regex matches its name, so specific rules go before catch-alls::

    rules:
      - layers: "^conv1$|classifier"
        skip: true
      - layers: "layer[34]"
        prune: "2:4"
        quant: int8
      - quant: int8
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from ..yamlio import read_yaml
from .spec import CompressionError, Rule, compile_layers, parse_prune, parse_quant

_KEYS = frozenset({"layers", "prune", "quant", "skip"})


def _rule(entry: Any, origin: str) -> Rule:
    if not isinstance(entry, dict):
        raise CompressionError(f"{origin}: a rule must be a mapping with layers/prune/quant/skip")
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise CompressionError(
            f"{origin}: unknown field '{unknown[0]}' (expected layers, prune, quant, skip)"
        )
    skip = entry.get("skip", False)
    if not isinstance(skip, bool):
        raise CompressionError(f"{origin}.skip: expected true or false, got {skip!r}")
    pattern = entry.get("layers", ".*")
    if not isinstance(pattern, str):
        raise CompressionError(f"{origin}.layers: expected a regex string, got {pattern!r:.60}")
    layers = compile_layers(pattern, origin)
    try:
        prune = parse_prune(str(entry["prune"])) if entry.get("prune") is not None else None
        quant = parse_quant(str(entry["quant"])) if entry.get("quant") is not None else None
    except CompressionError as exc:
        raise CompressionError(f"{origin}: {exc}") from None
    if not skip and prune is None and quant is None:
        raise CompressionError(f"{origin}: the rule neither prunes, quantizes nor skips")
    try:
        return Rule(layers=layers, prune=prune, quant=quant, skip=skip)
    except CompressionError as exc:
        raise CompressionError(f"{origin}: {exc}") from None


RECIPE_PACKAGE = "hwsim.workloads"


def recipe_names() -> list[str]:
    """The built-in recipes (``workloads/recipes/*.yaml``)."""
    root = resources.files(RECIPE_PACKAGE).joinpath("recipes")
    return sorted(p.name.removesuffix(".yaml") for p in root.iterdir() if p.name.endswith(".yaml"))


def recipe_path(name: str | Path) -> Path:
    """A recipe file, or the built-in recipe of that name."""
    path = Path(name)
    if path.exists() or path.suffix in (".yaml", ".yml"):
        return path
    builtin = Path(str(resources.files(RECIPE_PACKAGE).joinpath("recipes", f"{name}.yaml")))
    if builtin.exists():
        return builtin
    raise CompressionError(
        f"no recipe file or built-in recipe '{name}' (built-in: {', '.join(recipe_names())})"
    )


def load_recipe(path: str | Path) -> tuple[Rule, ...]:
    """The rules of a recipe file or built-in recipe (a list, or a mapping with ``rules``)."""
    path = recipe_path(path)
    data = read_yaml(path, "recipe", CompressionError)
    rules = data.get("rules") if isinstance(data, dict) else data
    if isinstance(data, dict) and set(data) - {"rules", "description"}:
        extra = sorted(set(data) - {"rules", "description"})[0]
        raise CompressionError(f"{path}: unknown field '{extra}' (expected rules, description)")
    if not isinstance(rules, list) or not rules:
        raise CompressionError(f"{path}: expected a non-empty list of rules under 'rules'")
    return tuple(_rule(entry, f"{path}: rules[{i}]") for i, entry in enumerate(rules))

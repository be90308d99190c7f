"""No input hangs hwsim or reaches a traceback: YAML bombs, hostile topologies and configs,
catastrophic regexes and huge shapes each fail fast with one line, or price correctly.

Each test runs under ``within(seconds)``, a guard that turns a hang into a failure: a
regression must not stall the suite, and the timeout is generous (not a speed target).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hwsim.compression.recipe import load_recipe
from hwsim.compression.spec import CompressionError
from hwsim.errors import ProfileError
from hwsim.profile import load_profile


@contextmanager
def within(seconds: int) -> Iterator[None]:
    def hung(signum, frame):
        raise AssertionError(f"still running after {seconds} s: an input hangs hwsim")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _one_line(exc: BaseException, *fragments: str) -> None:
    text = str(exc)
    assert "\n" not in text and len(text) < 400, text
    for fragment in fragments:
        assert fragment in text, text


# --- YAML: profiles and recipes share one loader ---------------------------------------------

BILLION_LAUGHS = "\n".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(
            f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]"
            for a, b in zip("abcdefgh", "bcdefghi", strict=True)
        ),
    ]
)

HOSTILE_YAML = {
    "alias_bomb": (BILLION_LAUGHS, "aliases"),
    "deep": ("a: " + "[" * 100_000 + "]" * 100_000, "nested deeper than"),
    "deep_block": ("".join(f"{'  ' * i}k{i}:\n" for i in range(2000)) + "  " * 2000 + "x", "deep"),
    "self_alias": ("a: &a [*a]", "contains it"),
    "python_tag": ("!!python/object/apply:builtins.open ['{marker}', 'w']", "not valid YAML"),
    "huge_int": ("a: " + "9" * 5000, "5000 digits"),
}


def _loaders():
    return [
        pytest.param(load_profile, ProfileError, id="profile"),
        pytest.param(load_recipe, CompressionError, id="recipe"),
    ]


@pytest.mark.parametrize(("load", "error"), _loaders())
@pytest.mark.parametrize("case", sorted(HOSTILE_YAML))
def test_hostile_yaml_fails_fast_in_one_line(tmp_path, load, error, case):
    text, fragment = HOSTILE_YAML[case]
    marker = tmp_path / "MARKER"
    path = tmp_path / f"{case}.yaml"
    path.write_text(text.replace("{marker}", str(marker)))
    with within(20), pytest.raises(error) as info:
        load(path)
    _one_line(info.value, str(path), fragment)
    assert not marker.exists()


@pytest.mark.parametrize(("load", "error"), _loaders())
def test_binary_yaml_is_one_line(tmp_path, load, error):
    path = tmp_path / "binary.yaml"
    path.write_bytes(bytes(range(128, 256)) * 16)
    with pytest.raises(error) as info:
        load(path)
    _one_line(info.value, str(path), "not UTF-8")


@pytest.mark.parametrize(("load", "error"), _loaders())
def test_nul_bytes_are_one_line(tmp_path, load, error):
    path = tmp_path / "nul.yaml"
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(error) as info:
        load(path)
    _one_line(info.value, str(path))


def test_a_few_aliases_still_load(tmp_path):
    """Aliases are bounded, not banned: a recipe sharing one spec through an anchor loads."""
    path = tmp_path / "anchored.yaml"
    path.write_text(
        "rules:\n"
        "  - {layers: 'conv', prune: &sparse '2:4', quant: int8}\n"
        "  - {layers: 'fc', prune: *sparse}\n"
    )
    rules = load_recipe(path)
    assert [r.prune.label for r in rules] == ["2:4", "2:4"]


def test_limits_are_far_above_real_files():
    """The largest preset is a small fraction of the node and depth limits."""
    import yaml

    from hwsim.yamlio import MAX_DEPTH, MAX_NODES, StrictLoader, _measure

    presets = Path(__file__).parents[1] / "hw_profiles"
    for path in presets.glob("*.yaml"):
        node = yaml.compose(path.read_text(), Loader=StrictLoader)
        size, height = _measure(node, 1, {}, set())
        assert size < MAX_NODES / 100 and height < MAX_DEPTH / 4, path

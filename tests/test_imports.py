"""Start-up cost: ``hwsim --help`` and ``hwsim profiles`` must not import torch or pandas
(seconds), and the lazy package must still hand out the same public names."""

from __future__ import annotations

import subprocess
import sys

import pytest

import hwsim

_HEAVY = ("torch", "pandas", "numba", "transformers", "onnx", "matplotlib")


def _modules_after(code: str) -> set[str]:
    heavy = f"','.join(m for m in {_HEAVY!r} if m in sys.modules)"
    script = f"import sys\n{code}\nprint('loaded:' + {heavy})\n"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    loaded = done.stdout.rpartition("loaded:")[2].strip()
    return {m for m in loaded.split(",") if m}


def _cli(*args: str) -> str:
    return (
        "import hwsim.cli\n"
        f"sys.argv = ['hwsim', *{list(args)!r}]\n"
        "try:\n    hwsim.cli.main()\nexcept SystemExit:\n    pass"
    )


@pytest.mark.parametrize(
    "code",
    [
        "import hwsim",
        _cli("--help"),
        _cli("profiles"),
        _cli("profiles", "tpu_edge"),
        *(_cli(command, "--help") for command in ("estimate", "memory", "llm", "plot")),
    ],
    ids=["import", "help", "profiles", "profile", "estimate", "memory", "llm", "plot"],
)
def test_light_commands_import_nothing_heavy(code):
    assert _modules_after(code) == set()


def test_public_names_resolve():
    for name in hwsim.__all__:
        assert getattr(hwsim, name) is not None
    assert set(hwsim.__all__) <= set(dir(hwsim))
    with pytest.raises(AttributeError):
        hwsim.no_such_name  # noqa: B018


def test_estimate_stays_a_function_after_its_module_loads():
    import importlib

    importlib.import_module("hwsim.estimate")
    assert callable(hwsim.estimate) and hwsim.estimate.__name__ == "estimate"


def test_a_cached_estimate_imports_no_torch(tmp_path):
    """The second estimate of a file reads its graph from the cache: pricing it needs neither
    torch nor the torch frontend (importing torch alone takes seconds)."""
    import torch

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval()
    path = tmp_path / "m.pt2"
    torch.export.save(torch.export.export(model, (torch.zeros(1, 3, 8, 8),)), str(path))
    first = _modules_after(_cli("estimate", str(path), "--hw", "tpu_edge"))
    assert "torch" in first  # traced: the cache was empty
    assert _modules_after(_cli("estimate", str(path), "--hw", "tpu_edge")) <= {"pandas"}

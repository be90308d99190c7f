"""No code runs from a model file: one crafted file per loader route.

Each payload opens a marker file if it ever runs. A test passes when the marker is absent and
hwsim either gives the normal result (the hostile part was optional) or refuses in one line.
``torch.export.load`` itself runs the sample-input payload: the first test shows that, so the
crafted archive is known to be live.
"""

from __future__ import annotations

import io
import json
import zipfile

import pytest
import torch
from crafted import (
    TinyLinear,
    edit_program_json,
    evil_torch_save,
    pickled_payload,
    rewrite_zip,
    saved_program,
    splice_data_pkl,
)
from torch import nn

import hwsim
from hwsim.errors import ModelLoadError
from hwsim.frontend.pt2_archive import load_pt2

TINY_MACS = 2 * 3 * 4  # (2, 4) @ (4, 3)


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "MARKER"
    yield path
    assert not path.exists(), "a payload from a crafted file ran"


@pytest.fixture
def clean_pt2(tmp_path):
    return saved_program(tmp_path)


def _write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _refused(path, *, contains: str, **kwargs) -> str:
    with pytest.raises(ModelLoadError) as info:
        hwsim.trace(str(path), **kwargs)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and contains in message
    return message


def test_pt2_sample_inputs_that_run_code_are_dropped(tmp_path, clean_pt2):
    """The sample-inputs pickle opens the marker, then returns valid inputs. torch's loader runs
    it (weights_only=False fallback); hwsim drops the inputs and reads the shapes from the
    program instead, so the estimate is the clean one."""
    marker = tmp_path / "MARKER"

    def change(name, data):
        return splice_data_pkl(data, marker) if name.endswith("sample_inputs/model.pt") else data

    path = _write(tmp_path, "evil_inputs.pt2", rewrite_zip(clean_pt2, change))
    torch.export.load(str(path))
    assert marker.exists(), "the crafted archive is not live: torch did not run it"
    marker.unlink()
    assert hwsim.trace(str(path)).macs == TINY_MACS
    assert not marker.exists()


def test_pt2_pickled_weight_is_refused(tmp_path, clean_pt2, marker):
    """A weight marked use_pickle, whose pickle runs code: torch would load it with
    weights_only=False."""

    def change(name, data):
        if name.endswith("model_weights_config.json"):
            config = json.loads(data)
            for meta in config["config"].values():
                meta["use_pickle"] = True
            return json.dumps(config).encode()
        if "/data/weights/weight_" in name:
            return evil_torch_save(torch.zeros(3, 4), marker)
        return data

    path = _write(tmp_path, "evil_weight.pt2", rewrite_zip(clean_pt2, change))
    _refused(path, contains="--trust-pickle")


def test_pt2_pickled_tensor_weight_still_loads(tmp_path, clean_pt2, marker):
    """A weight pickled the honest way (a plain tensor) passes the weights-only unpickler."""
    weights = {"weight_0": torch.ones(3, 4), "weight_1": torch.ones(3)}

    def change(name, data):
        if name.endswith("model_weights_config.json"):
            config = json.loads(data)
            for meta in config["config"].values():
                meta["use_pickle"] = True
            return json.dumps(config).encode()
        for record, tensor in weights.items():
            if name.endswith(f"/data/weights/{record}"):
                buffer = io.BytesIO()
                torch.save(tensor, buffer)
                return buffer.getvalue()
        return data

    path = _write(tmp_path, "pickled_tensor.pt2", rewrite_zip(clean_pt2, change))
    assert hwsim.trace(str(path)).macs == TINY_MACS


def test_pt2_opaque_constant_is_refused(tmp_path, clean_pt2, marker):
    """An opaque constant goes through pickle.loads in torch's loader."""

    def change(name, data):
        if name.endswith("model_constants_config.json"):
            config = json.loads(data)
            config["config"]["evil"] = {
                "path_name": "opaque_obj_0",
                "is_param": False,
                "use_pickle": True,
                "tensor_meta": None,
            }
            return json.dumps(config).encode()
        return data

    archive = rewrite_zip(clean_pt2, change)
    prefix = next(n for n in _names(archive) if n.endswith("archive_format")).split("/")[0]
    path = _write(
        tmp_path,
        "evil_constant.pt2",
        _add_member(archive, f"{prefix}/data/constants/opaque_obj_0", pickled_payload(marker)),
    )
    _refused(path, contains="pickled Python object")


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("torch.serialization.os.system", "not a tensor operator"),
        ("builtins.open", "not a tensor operator"),
        ("torch.ops.aten.from_file.default", "reads or writes files"),
        ("torch.ops.mylib.evil.default", "namespace 'mylib'"),
    ],
)
def test_pt2_graph_calling_python_is_refused(tmp_path, clean_pt2, marker, target, why):
    """torch resolves a node's target by attribute lookup from the file's string, so a graph
    can call os.system when it runs."""

    def edit(program):
        program["graph_module"]["graph"]["nodes"][0]["target"] = target
        return program

    path = _write(tmp_path, "evil_target.pt2", edit_program_json(clean_pt2, edit))
    _refused(path, contains=why)


@pytest.mark.parametrize(
    "expr",
    [
        f"__import__('builtins').open('{'{marker}'}', 'w')",
        "Symbol('s0').__class__",
        "Pow(Integer(9), Pow(Integer(9), Integer(9)))",
        "Integer(9)**Integer(9)**Integer(99)",
        "Symbol('os.system')",
        "preview(Symbol('s0'))",
    ],
)
def test_pt2_symbolic_shape_that_evaluates_code_is_refused(tmp_path, clean_pt2, marker, expr):
    """sympy.sympify evaluates Python: a shape expression may not call anything but sympy's
    constructors on literals, nor compute a number with billions of digits."""
    expr = expr.replace("{marker}", str(marker))

    def edit(program):
        sizes = program["graph_module"]["graph"]["tensor_values"]["x"]["sizes"]
        sizes[0] = {"as_expr": {"expr_str": expr, "hint": {"as_int": 2}}}
        return program

    path = _write(tmp_path, "evil_expr.pt2", edit_program_json(clean_pt2, edit))
    _refused(path, contains="symbolic shape")


def test_pt2_symbolic_shape_route_is_live(tmp_path, clean_pt2):
    """What the test above guards against: torch's own loader evaluates the expression."""
    marker = tmp_path / "MARKER"

    def edit(program):
        sizes = program["graph_module"]["graph"]["tensor_values"]["x"]["sizes"]
        expr = f"__import__('builtins').open('{marker}', 'w')"
        sizes[0] = {"as_expr": {"expr_str": expr, "hint": {"as_int": 2}}}
        return program

    path = _write(tmp_path, "evil_expr.pt2", edit_program_json(clean_pt2, edit))
    with pytest.raises(Exception):  # noqa: B017 - torch fails after running the payload
        torch.export.load(str(path))
    assert marker.exists()
    marker.unlink()
    _refused(path, contains="symbolic shape")
    assert not marker.exists()


def test_pt2_with_a_dynamic_batch_still_loads(tmp_path, marker):
    """The expression check passes what torch writes for a dynamic dimension."""
    program = torch.export.export(
        TinyLinear().eval(),
        (torch.zeros(2, 4),),
        dynamic_shapes={"x": {0: torch.export.Dim("batch")}},
        strict=False,
    )
    path = tmp_path / "dynamic.pt2"
    torch.export.save(program, str(path))
    assert hwsim.trace(str(path), batch=5).macs == 5 * 3 * 4


def test_pt2_guards_code_is_never_executed(tmp_path, clean_pt2):
    """``ExportedProgram.module()`` execs ``guards_code`` (torch's own loader: live); hwsim
    drops it on load."""
    marker = tmp_path / "MARKER"

    def edit(program):
        program["guards_code"] = [f"open('{marker}', 'w') is None"]
        return program

    path = _write(tmp_path, "evil_guards.pt2", edit_program_json(clean_pt2, edit))
    with pytest.raises(AssertionError):
        torch.export.load(str(path)).module()(torch.zeros(2, 4))
    assert marker.exists(), "the crafted archive is not live"
    marker.unlink()
    assert hwsim.trace(str(path)).macs == TINY_MACS
    program, _ = load_pt2(path, trust_pickle=False)
    program.module()(torch.zeros(2, 4))
    assert not marker.exists()


def test_truncated_pt2_is_one_line(tmp_path, clean_pt2):
    path = _write(tmp_path, "truncated.pt2", clean_pt2[: len(clean_pt2) // 2])
    message = _refused(path, contains="truncated or corrupt")
    assert "Errno" not in message


def test_random_bytes_are_not_called_a_pickle(tmp_path):
    path = _write(tmp_path, "random.pt", bytes(range(256)) * 20)
    message = _refused(path, contains="not a readable PyTorch file")
    assert "run" not in message


def test_torchscript_calling_from_file_is_refused(tmp_path, marker):
    """TorchScript runs at load (``__setstate__``) and at conversion; ``torch.from_file``
    creates and maps files."""

    class MapsAFile(nn.Module):
        def __init__(self, where: str) -> None:
            super().__init__()
            self.where = where

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + torch.from_file(self.where, True, 4).sum()

    path = tmp_path / "maps_a_file.ts"
    torch.jit.script(MapsAFile(str(marker))).save(str(path))
    _refused(path, contains="from_file", input_shapes="1,4")


def test_pickled_module_is_refused_without_running(tmp_path, marker):
    path = _write(tmp_path, "evil_module.pt", evil_torch_save(TinyLinear(), marker))
    _refused(path, contains="--trust-pickle")


def test_legacy_pickle_is_refused_without_running(tmp_path, marker):
    """torch.save's pre-zip format, with a payload as its object."""
    buffer = io.BytesIO()
    torch.save(TinyLinear(), buffer, _use_new_zipfile_serialization=False)
    legacy = buffer.getvalue()
    path = _write(tmp_path, "legacy.pt", legacy)
    _refused(path, contains="--trust-pickle")
    raw = _write(tmp_path, "raw.pkl", pickled_payload(marker))
    with pytest.raises(ModelLoadError):
        hwsim.trace(str(raw))


def test_state_dict_route_refuses_code(tmp_path, marker):
    """A state_dict for --arch whose pickle also opens the marker."""
    state = TinyLinear().state_dict()
    path = _write(tmp_path, "evil_state.pt", evil_torch_save(state, marker))
    _refused(path, contains="--trust-pickle", arch="resnet18")


def _names(archive: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        return zf.namelist()


def _add_member(archive: bytes, name: str, data: bytes) -> bytes:
    out = io.BytesIO(archive)
    with zipfile.ZipFile(out, "a") as zf:
        zf.writestr(name, data)
    return out.getvalue()

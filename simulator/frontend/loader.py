"""Turn whatever the user pointed at into something torch.export can trace.

Loading a pickle runs code, so a pickled ``nn.Module`` is refused unless the user says
``trust_pickle``; a bare state_dict has no architecture, so it needs ``arch``. Every refusal
says what to do instead.
"""

from __future__ import annotations

import math
import re
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode

from ..errors import InputShapeError, ModelLoadError, WorkloadError
from .pt2_archive import load_pt2
from .shapes import INPUT_DTYPES, InputShapes, check_batch

RESAVE_HINT = (
    "re-save it with torch.export: "
    "torch.export.save(torch.export.export(model.eval(), example_inputs), 'model.pt2')"
)


@dataclass(frozen=True)
class Loaded:
    """A model ready to export, or an already exported program, and what to feed it."""

    source: str
    module: nn.Module | None = None
    program: torch.export.ExportedProgram | None = None
    inputs: tuple[torch.Tensor, ...] | None = None


_DTYPES = {name: getattr(torch, name) for name in INPUT_DTYPES}


# Beyond this many elements a tensor's byte size overflows int64 and fake tracing cannot work.
MAX_INPUT_ELEMENTS = 1 << 60


def fake_inputs(specs: Sequence[tuple[tuple[int, ...], torch.dtype]]) -> tuple[torch.Tensor, ...]:
    """Fake tensors (a shape and a dtype, no storage) of the given specs, in one fake mode.

    torch.export propagates shapes through fake tensors as through real ones, so
    ``--batch 10000000`` or a 100000 x 100000 image is priced from its shapes without
    allocating the terabytes a real tensor would take.
    """
    for shape, _ in specs:
        if math.prod(shape) > MAX_INPUT_ELEMENTS:
            raise InputShapeError(
                f"input shape {shape} has {math.prod(shape):.3g} elements; tensors that large "
                f"(more than {MAX_INPUT_ELEMENTS:.3g}) overflow torch's size arithmetic"
            )
    with FakeTensorMode(allow_non_fake_inputs=True):
        return tuple(torch.empty(shape, dtype=dtype) for shape, dtype in specs)


def specs_of(tensors: Sequence[torch.Tensor]) -> list[tuple[tuple[int, ...], torch.dtype]]:
    return [(tuple(int(d) for d in t.shape), t.dtype) for t in tensors]


def make_inputs(
    shapes: InputShapes, like: tuple[torch.Tensor, ...] | None = None
) -> tuple[torch.Tensor, ...]:
    """Fake inputs of the requested shapes; dtypes default to those of ``like``, else float32."""
    specs = []
    for i, (shape, dtype) in enumerate(shapes):
        default = like[i].dtype if like is not None and i < len(like) else torch.float32
        specs.append((shape, _DTYPES[dtype] if dtype else default))
    return fake_inputs(specs)


def with_batch(inputs: tuple[torch.Tensor, ...], batch: int) -> tuple[torch.Tensor, ...]:
    """Fake inputs with the first dimension of each (non-scalar) input set to ``batch``."""
    check_batch(batch)
    return fake_inputs([((batch, *s[1:]) if s else s, d) for s, d in specs_of(inputs)])


def _workload(name: str) -> Any:
    from ..workloads import get_workload, workload_names

    try:
        return get_workload(name)
    except ValueError as exc:  # a family member's spec that names nothing (nas201:...)
        raise WorkloadError(f"workload '{name}': {exc}") from None
    except KeyError:
        raise WorkloadError(
            f"unknown workload '{name}' (built-in: {', '.join(workload_names())})"
        ) from None


# A compressed zip member may expand this many times over before it is refused: torch writes
# members uncompressed, and a JSON member compresses about tenfold, so only a bomb gets here.
_MAX_EXPANSION = 200
_ZIP_MAGIC = b"PK\x03\x04"
# TorchScript builtins that reach outside the process; TorchScript code runs at load time
# (``__setstate__``) and when the model is converted, so an archive calling one is refused.
_TORCHSCRIPT_UNSAFE = re.compile(rb"\bfrom_file\b")


def _archive_kind(path: Path) -> str:
    """'export', 'torchscript' or 'pickle', from the layout of the zip torch writes."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            kind = _zip_kind([i.filename for i in infos])
            _check_zip(path, zf, infos, kind)
    except (NotImplementedError, RuntimeError, ValueError, EOFError, OverflowError, zlib.error):
        # A damaged header that zipfile reads as an unknown version, compression or
        # encryption, or a member that does not inflate.
        raise ModelLoadError(
            f"{path}: a zip archive that cannot be read (truncated or corrupt); "
            "copy or save it again"
        ) from None
    except zipfile.BadZipFile:
        with path.open("rb") as f:
            magic = f.read(4)
        if magic == _ZIP_MAGIC:
            raise ModelLoadError(
                f"{path}: a zip archive that cannot be read (truncated or corrupt); "
                "copy or save it again"
            ) from None
        if path.suffix.lower() == ".pt2":
            raise ModelLoadError(
                f"{path}: not a torch.export archive (a .pt2 is a zip written by torch.export.save)"
            ) from None
        return "pickle"  # torch.save's legacy (non-zip) format; torch.load decides
    return kind


def _zip_kind(names: list[str]) -> str:
    if any(n.endswith("/archive_format") or n == "archive_format" for n in names):
        return "export"
    if any("/code/" in n or n.endswith("constants.pkl") for n in names):
        return "torchscript"
    return "pickle"


def _check_zip(path: Path, zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], kind: str) -> None:
    """Refuse a zip bomb before torch inflates it, and TorchScript code that would touch files."""
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED and info.file_size > _MAX_EXPANSION * max(
            info.compress_size, 1
        ):
            raise ModelLoadError(
                f"{path}: member '{info.filename[:80]}' would expand "
                f"{info.file_size // max(info.compress_size, 1)}x; refusing a zip bomb"
            )
    if kind != "torchscript":
        return
    for info in infos:
        is_code = "/code/" in info.filename and info.filename.endswith(".py")
        if is_code and _TORCHSCRIPT_UNSAFE.search(zf.read(info)):
            raise ModelLoadError(
                f"{path}: the TorchScript code in '{info.filename[:80]}' calls "
                "torch.from_file, which reads and writes files; refusing to load it"
            )


def _state_dict_of(obj: Any) -> dict[str, torch.Tensor] | None:
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            inner = obj.get(key)
            if (
                isinstance(inner, dict)
                and inner
                and all(isinstance(v, torch.Tensor) for v in inner.values())
            ):
                return inner
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj
    return None


def _load_pickle(path: Path, trust_pickle: bool, arch: str | None) -> Loaded:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises errors of many types for bad files
        if "Unsupported global" not in str(exc):
            raise ModelLoadError(
                f"{path}: not a readable PyTorch file (neither torch.save output nor an "
                f"archive torch wrote: {_first_line(exc)})"
            ) from None
        if not trust_pickle:
            raise ModelLoadError(
                f"{path}: this is a pickled object (e.g. a whole nn.Module); loading it would run "
                "arbitrary code. Pass --trust-pickle only if you trust its source, "
                f"or {RESAVE_HINT}"
            ) from None
        obj = _load_untrusted(path)
    if isinstance(obj, nn.Module):
        _no_arch(arch, f"the whole module in {path}")
        return Loaded(source=str(path), module=obj.eval())
    state = _state_dict_of(obj)
    if state is None:
        raise ModelLoadError(f"{path}: holds a {type(obj).__name__}, not a model or a state_dict")
    if arch is None:
        raise ModelLoadError(
            f"{path}: a bare state_dict has no architecture; pass --arch NAME with the built-in "
            f"workload it belongs to, or {RESAVE_HINT}"
        )
    workload = _workload(arch)
    model = workload.build()
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        detail = (str(exc).splitlines()[1:2] or [str(exc)])[0].strip()
        raise WorkloadError(f"{path}: weights do not fit --arch {arch}: {detail[:200]}") from None
    return Loaded(source=str(path), module=model.eval(), inputs=workload.make_inputs(1))


def _load_untrusted(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise ModelLoadError(
            f"{path}: unpickling failed ({type(exc).__name__}: {_first_line(exc)}); "
            "the classes the model uses must be importable"
        ) from None


def _load_export(path: Path, trust_pickle: bool) -> Loaded:
    try:
        program, example = load_pt2(path, trust_pickle=trust_pickle)
    except ModelLoadError:
        raise
    except Exception as exc:  # only with --trust-pickle: torch's loader, many error types
        raise ModelLoadError(
            f"{path}: corrupt torch.export archive ({type(exc).__name__}: {_first_line(exc)})"
        ) from None
    inputs = None
    if example is not None:
        args, kwargs = example
        if not kwargs and all(isinstance(a, torch.Tensor) for a in args):
            inputs = tuple(args)
    return Loaded(source=str(path), program=program, inputs=inputs)


def _load_torchscript(path: Path) -> Loaded:
    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:
        raise ModelLoadError(
            f"{path}: corrupt TorchScript archive ({type(exc).__name__}: {_first_line(exc)})"
        ) from None
    return Loaded(source=str(path), module=module)


def load_target(
    target: str | Path | nn.Module | torch.export.ExportedProgram,
    *,
    trust_pickle: bool = False,
    arch: str | None = None,
) -> Loaded:
    """Resolve a module, an exported program, a file path or a workload name."""
    if isinstance(target, torch.export.ExportedProgram):
        _no_arch(arch, "an ExportedProgram")
        return Loaded(source="<ExportedProgram>", program=target)
    if isinstance(target, nn.Module):
        _no_arch(arch, "an nn.Module")
        return Loaded(source=type(target).__name__, module=target.eval())
    path = Path(target)
    if not _exists(path):
        from ..workloads import is_workload_name, workload_names

        if is_workload_name(str(target)):
            _no_arch(arch, f"the built-in workload '{target}'")
            workload = _workload(str(target))
            return Loaded(
                source=str(target), module=workload.build(), inputs=workload.make_inputs(1)
            )
        looks_like_file = path.suffix or "/" in str(target)
        raise ModelLoadError(
            f"{target}: no such file"
            if looks_like_file
            else f"{target}: neither a file nor a built-in workload ({', '.join(workload_names())})"
        )
    if path.is_dir():
        raise ModelLoadError(f"{path}: is a directory, expected a model file")
    try:
        kind = _archive_kind(path)
    except OSError as exc:
        raise ModelLoadError(f"{path}: cannot read the file ({exc.strerror})") from None
    if kind == "export":
        _no_arch(arch, f"the torch.export archive {path}")
        return _load_export(path, trust_pickle)
    if kind == "torchscript":
        _no_arch(arch, f"the TorchScript archive {path}")
        return _load_torchscript(path)
    return _load_pickle(path, trust_pickle, arch)


def _no_arch(arch: str | None, what: str) -> None:
    """``--arch`` names the architecture of a bare state_dict; given with anything else it
    would be ignored, so it is an error."""
    if arch is not None:
        raise ModelLoadError(
            f"--arch {arch}: only a bare state_dict needs an architecture; {what} has its own"
        )


def _exists(path: Path) -> bool:
    """``Path.exists`` that turns a path the OS refuses (a 300-character name) into one line."""
    try:
        return path.exists()
    except OSError as exc:
        raise ModelLoadError(f"{str(path)[:80]}...: not a usable path ({exc.strerror})") from None


def _first_line(exc: BaseException) -> str:
    """The line of an exception's message that says what went wrong: torch's weights-only
    refusals bury it after a paragraph of advice."""
    text = str(exc).strip()
    marker = "WeightsUnpickler error:"
    if marker in text:
        text = text.split(marker, 1)[1].strip()
    return text.splitlines()[0][:160] if text else type(exc).__name__

"""Read an ONNX file without running anything and without reading outside what it may.

An ONNX model is a protobuf message: parsing it runs no code (unlike a pickle). Two things
still need bounds. The file's size: protobuf cannot hold more than 2 GiB, so a larger file is
refused before it is read. And external data: a tensor may name a file its bytes live in, and
a crafted name (``../../etc/passwd``, an absolute path, a symlink out) would make a loader read
anywhere. onnx's own loader has had such holes (CVE-2022-25882, CVE-2024-27318), so hwsim does
not use it for external data: it parses with ``load_external_data=False`` and reads each
external tensor itself, only from a regular file inside the model's own directory, only the
byte range the tensor's shape needs, memory-mapped rather than copied.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from ..digest import file_sha256
from ..errors import ModelLoadError
from .onnx_types import numpy_dtype

MAX_MODEL_BYTES = 2 << 30  # protobuf's limit; larger models keep their weights externally
MAX_NODES = 1_000_000


@dataclass(frozen=True)
class LoadedOnnx:
    model: onnx.ModelProto
    external: Mapping[str, np.ndarray]  # tensor name -> values read from external data
    files: tuple[tuple[str, str], ...]  # (external data file relative to the model, sha256)


def load_onnx(path: Path) -> LoadedOnnx:
    """Parse ``path`` and read its external data (confined to its directory)."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ModelLoadError(f"{path}: cannot read ({exc.strerror})") from None
    if size > MAX_MODEL_BYTES:
        raise ModelLoadError(
            f"{path}: {size / 2**30:.1f} GiB is more than an ONNX file can hold (2 GiB); "
            "save the weights as external data (onnx.save(..., save_as_external_data=True))"
        )
    try:
        model = onnx.load_model(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError and friends for a bad file
        raise ModelLoadError(f"{path}: not a readable ONNX model ({type(exc).__name__})") from None
    if not model.HasField("graph") or not model.graph.node:
        raise ModelLoadError(f"{path}: the ONNX model has no graph")
    if len(model.graph.node) > MAX_NODES:
        raise ModelLoadError(f"{path}: {len(model.graph.node)} nodes is more than hwsim reads")
    if model.functions:
        from onnx import inliner

        model = inliner.inline_local_functions(model)
    external: dict[str, np.ndarray] = {}
    files: dict[str, Path] = {}
    for tensor in model.graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            external[tensor.name] = _read_external(path, tensor, files)
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.HasField("t") and attr.t.data_location == onnx.TensorProto.EXTERNAL:
                raise ModelLoadError(
                    f"{path}: node '{node.name}' keeps a constant in external data, which hwsim "
                    "does not read; store constants in the model file"
                )
    digests = tuple(sorted((name, file_sha256(p)) for name, p in files.items()))
    return LoadedOnnx(model=model, external=external, files=digests)


def _external_file(model_path: Path, location: str, tensor: str) -> Path:
    """The file ``location`` names, if it lies inside the model's directory."""
    rel = PurePosixPath(location.replace("\\", "/"))
    if not location or rel.is_absolute() or ".." in rel.parts or ":" in rel.parts[0]:
        raise ModelLoadError(
            f"{model_path}: tensor '{tensor}' points at '{location}', outside the model's "
            "directory; hwsim reads external data only from beside the model"
        )
    base = model_path.resolve().parent
    target = (base / Path(*rel.parts)).resolve()
    if not target.is_relative_to(base) or not target.is_file():
        raise ModelLoadError(
            f"{model_path}: tensor '{tensor}': external data '{location}' is not a file in "
            "the model's directory"
        )
    return target


def _read_external(
    model_path: Path, tensor: onnx.TensorProto, files: dict[str, Path]
) -> np.ndarray:
    info = {e.key: e.value for e in tensor.external_data}
    location = info.get("location", "")
    target = _external_file(model_path, location, tensor.name)
    dtype = numpy_dtype(tensor.data_type)
    if dtype.itemsize == 0 or tensor.data_type in (onnx.TensorProto.INT4, onnx.TensorProto.UINT4):
        raise ModelLoadError(
            f"{model_path}: tensor '{tensor.name}': external data of this type is not read"
        )
    shape = tuple(int(d) for d in tensor.dims)
    if any(d < 0 for d in shape):
        raise ModelLoadError(f"{model_path}: tensor '{tensor.name}' has a negative dimension")
    needed = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    try:
        offset = int(info.get("offset", 0))
        length = int(info.get("length", needed))
    except ValueError:
        raise ModelLoadError(f"{model_path}: tensor '{tensor.name}': bad offset/length") from None
    available = target.stat().st_size
    if offset < 0 or length != needed or offset + needed > available:
        raise ModelLoadError(
            f"{model_path}: tensor '{tensor.name}' needs {needed} bytes at offset {offset} of "
            f"'{location}' ({available} bytes)"
        )
    files[location] = target
    if needed == 0:
        return np.zeros(shape, dtype=dtype)
    return np.memmap(target, dtype=dtype, mode="r", offset=offset, shape=shape)


def files_unchanged(model_path: Path, recorded: Any) -> bool:
    """Whether the external data files a cache entry was built from still hold the same bytes."""
    try:
        for location, digest in recorded:
            if file_sha256(_external_file(model_path, str(location), "")) != digest:
                return False
    except (ModelLoadError, OSError, TypeError, ValueError):
        return False
    return True


def tensor_value(tensor: onnx.TensorProto, external: Mapping[str, np.ndarray]) -> np.ndarray:
    """An initializer's (or Constant's) values, checked against its declared shape."""
    if tensor.name in external:
        return external[tensor.name]
    try:
        return numpy_helper.to_array(tensor)
    except Exception as exc:  # numpy/onnx raise several types for data that does not fit
        raise ModelLoadError(
            f"tensor '{tensor.name}': its data does not match its type and shape "
            f"({type(exc).__name__})"
        ) from None

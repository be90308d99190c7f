"""A content-addressed cache of traced graphs, so a second estimate of a file skips tracing.

Tracing is most of an estimate's time (seconds for a CNN); pricing a graph takes milliseconds.
An entry is keyed by what determines the graph: the model's bytes (a workload's name), the
input shapes and trace options, and the code that builds it (hwsim's own sources, torch's,
onnx's and numpy's versions). Editing hwsim or upgrading torch therefore misses the old
entries instead of returning stale graphs, and deleting the directory at any time is safe.

Where: ``$XDG_CACHE_HOME/hwsim/graphs`` (else ``~/.cache/hwsim/graphs``); ``HWSIM_NO_CACHE=1``
or ``trace(..., cache=False)`` (``--no-cache``) turns it off.

The format is hwsim's own and is read by this module alone: a magic line, a JSON header (ops,
edges, graph facts, where each weight lies) and the weights' raw little-endian bytes. Nothing
in it is code, so a planted file cannot run anything (a pickle could). A planted file could
still feed wrong numbers, so an entry is only read when it and its directory belong to the
user and nobody else may write them (the check ssh makes of ``~/.ssh``), and every field is
validated before it is used; anything unexpected is a miss, never an error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import stat
import struct
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from ..digest import file_sha256
from ..graph import OpGraph, RawTensor
from ..ops import GraphInfo, Op, OpKind, TensorSpec, WeightStats

FORMAT = 1
MAGIC = b"hwsim-graph\x00"
SUFFIX = ".hwg"
# An entry larger than this is not written (its weights would crowd out every other entry);
# the cache as a whole is trimmed, least recently used first, to stay under MAX_CACHE_BYTES.
MAX_ENTRY_BYTES = 1 << 30
MAX_CACHE_BYTES = 4 << 30
_ALIGN = 64
# Weight dtypes by torch's name -> the little-endian numpy dtype their bytes are stored as.
_STORED_DTYPES = {
    "float64": "<f8",
    "float32": "<f4",
    "float16": "<f2",
    "bfloat16": "<u2",
    "int64": "<i8",
    "int32": "<i4",
    "int16": "<i2",
    "int8": "i1",
    "uint8": "u1",
    "uint16": "<u2",
    "uint32": "<u4",
    "uint64": "<u8",
    "bool": "?",
}


class _Uncacheable(Exception):
    """The graph holds something the format does not represent; it is simply not cached."""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hwsim" / "graphs"


def enabled() -> bool:
    return os.environ.get("HWSIM_NO_CACHE", "") in ("", "0")


# --- keys -----------------------------------------------------------------------------------


@functools.cache
def code_version() -> str:
    """A digest of everything that shapes a graph besides the model: hwsim's own sources
    (hashed, so an edited checkout misses old entries without a version bump) and the versions
    of the libraries the frontends read models with."""
    digest = hashlib.sha256(f"format {FORMAT}".encode())
    for package in ("hwsim", "hwsim.workloads"):
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        root = Path(next(iter(spec.submodule_search_locations)))
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    for dist in ("hwsim", "torch", "onnx", "numpy"):
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            version = "absent"
        digest.update(f"{dist}={version}".encode())
    return digest.hexdigest()


def key_for(target: object, options: Mapping[str, Any]) -> str | None:
    """The key of ``target`` traced with ``options`` (JSON-able), or None when it cannot be
    keyed by content: a live module or program may change between calls."""
    if not isinstance(target, (str, Path)):
        return None
    path = Path(target)
    try:
        if path.is_file():
            identity = f"file:{file_sha256(path)}"
        elif path.exists():
            return None
        else:
            identity = f"name:{target}"  # a built-in workload; its code is in code_version()
    except OSError:  # an unreadable or impossible path: the loader says what is wrong
        return None
    payload = json.dumps(
        {"model": identity, "options": options, "code": code_version()}, sort_keys=True
    )
    return hashlib.sha256(payload.encode()).hexdigest()


# --- reading --------------------------------------------------------------------------------


def _owned_privately(path: Path) -> bool:
    """Belongs to this user, is not a symlink, and no one else may write it."""
    try:
        st = path.lstat()
    except OSError:
        return False
    if stat.S_ISLNK(st.st_mode) or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return False
    getuid = getattr(os, "getuid", None)
    return getuid is None or st.st_uid == getuid()


def load(
    key: str,
    *,
    source: str,
    retrace: Callable[[], OpGraph] | None = None,
    verify_files: Callable[[Mapping[str, Any]], bool] | None = None,
) -> OpGraph | None:
    """The cached graph for ``key`` (its ``info.source`` set to ``source``), or None.

    ``verify_files`` sees the entry's ``extra`` record (e.g. the external data files of an
    ONNX model and their digests) and may reject the entry.
    """
    directory = cache_dir()
    path = directory / f"{key}{SUFFIX}"
    if not (_owned_privately(directory) and _owned_privately(path)):
        return None
    try:
        raw = bytearray(path.read_bytes())
        header, blob_start = _read_header(raw)
        if header.get("key") != key or header.get("format") != FORMAT:
            return None
        extra = header.get("extra", {})
        if verify_files is not None and not verify_files(extra):
            return None
        graph = _graph_from(header, memoryview(raw)[blob_start:], source, retrace)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError):
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # least recently used is trimmed first
    return graph


def _read_header(raw: bytearray) -> tuple[dict[str, Any], int]:
    if raw[: len(MAGIC)] != MAGIC:
        raise ValueError("not an hwsim graph")
    start = len(MAGIC) + 8
    (length,) = struct.unpack("<Q", raw[len(MAGIC) : start])
    if length > len(raw) - start:
        raise ValueError("truncated header")
    header = json.loads(raw[start : start + length].decode("utf-8"))
    if not isinstance(header, dict):
        raise ValueError("bad header")
    return header, _aligned(start + length)


def _aligned(n: int) -> int:
    return -(-n // _ALIGN) * _ALIGN


def _graph_from(
    header: Mapping[str, Any],
    blob: memoryview,
    source: str,
    retrace: Callable[[], OpGraph] | None,
) -> OpGraph:
    graph_info = _info(header["info"], source)
    dag = nx.DiGraph()
    for node in header["nodes"]:
        op = _op(node["op"])
        weight = _weight(node["weight"], blob) if node.get("weight") is not None else None
        dag.add_node(op.id, op=op, position=_int(node["position"]), weight=weight)
    for src, dst, nbytes in header["edges"]:
        if src not in dag or dst not in dag:
            raise ValueError("edge to an unknown node")
        dag.add_edge(_str(src), _str(dst), bytes=_int(nbytes))
    return OpGraph(dag=dag, info=graph_info, retrace=retrace)


def _weight(entry: Mapping[str, Any], blob: memoryview) -> RawTensor:
    dtype = _str(entry["dtype"])
    stored = np.dtype(_STORED_DTYPES[dtype])
    shape = tuple(_int(d) for d in entry["shape"])
    offset, count = _int(entry["offset"]), int(np.prod(shape, dtype=np.int64))
    end = offset + count * stored.itemsize
    if offset < 0 or count < 0 or end > len(blob):
        raise ValueError("weight outside the file")
    data = np.frombuffer(blob[offset:end], dtype=stored).reshape(shape)
    return RawTensor(data, dtype)


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("expected an integer")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def _spec(value: Any) -> TensorSpec:
    shape, dtype = value
    return TensorSpec(tuple(_int(d) for d in shape), _str(dtype))


_SCALARS = (str, int, float, bool, type(None))


def _decode_value(value: Any) -> object:
    """Literal attribute values: JSON scalars, and lists/tuples tagged to keep them apart."""
    if isinstance(value, dict):
        ((tag, items),) = value.items()
        decoded = [_decode_value(v) for v in items]
        if tag == "tuple":
            return tuple(decoded)
        if tag == "list":
            return decoded
        raise ValueError(f"unknown tag {tag}")
    if not isinstance(value, _SCALARS):
        raise TypeError("unexpected attribute value")
    return value


def _encode_value(value: object) -> object:
    if isinstance(value, tuple):
        return {"tuple": [_encode_value(v) for v in value]}
    if isinstance(value, list):
        return {"list": [_encode_value(v) for v in value]}
    if isinstance(value, _SCALARS):
        return value
    raise _Uncacheable(f"attribute value of type {type(value).__name__}")


_SPEC_TUPLES = frozenset({"inputs", "outputs", "params"})


def _op(fields: Mapping[str, Any]) -> Op:
    """An ``Op`` from its header record; fields this reader does not know are an error (the
    entry was written by other code: a miss), fields it lacks take their defaults."""
    known = {f.name for f in dataclasses.fields(Op)}
    if not set(fields) <= known:
        raise KeyError(f"unknown op fields {sorted(set(fields) - known)}")
    values: dict[str, Any] = {}
    for name, raw in fields.items():
        if name == "kind":
            values[name] = OpKind(raw)
        elif name in _SPEC_TUPLES:
            values[name] = tuple(_spec(s) for s in raw)
        elif name == "weight_stats":
            values[name] = None if raw is None else WeightStats(**raw)
        else:
            values[name] = _decode_value(raw)
    return Op(**values)


def _encode_op(op: Op) -> dict[str, Any]:
    """Every field of ``op``: specs and statistics by their fields, the rest (scalars and
    tuples of them, the attributes included) as tagged JSON values."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(Op):
        value = getattr(op, f.name)
        if f.name == "kind":
            out[f.name] = value.value
        elif f.name in _SPEC_TUPLES:
            out[f.name] = [[list(s.shape), s.dtype] for s in value]
        elif f.name == "weight_stats":
            out[f.name] = None if value is None else dataclasses.asdict(value)
        else:
            out[f.name] = _encode_value(value)
    return out


def _info(raw: Mapping[str, Any], source: str) -> GraphInfo:
    known = {f.name for f in dataclasses.fields(GraphInfo)}
    if not set(raw) <= known:
        raise KeyError(f"unknown graph fields {sorted(set(raw) - known)}")
    values: dict[str, Any] = {
        name: tuple(_spec(s) for s in value) if name == "inputs" else _decode_value(value)
        for name, value in raw.items()
        if name != "source"
    }
    return GraphInfo(source=source, **values)


def _encode_info(info: GraphInfo) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(GraphInfo):
        value = getattr(info, f.name)
        if f.name == "inputs":
            out[f.name] = [[list(s.shape), s.dtype] for s in value]
        elif f.name != "source":
            out[f.name] = _encode_value(value)
    return out


# --- writing --------------------------------------------------------------------------------


def _weight_array(value: Any) -> tuple[np.ndarray, str]:
    """A stored weight as (array of its raw values, torch dtype name)."""
    if isinstance(value, RawTensor):
        return np.ascontiguousarray(value.data), value.dtype
    dtype = str(value.dtype).removeprefix("torch.")
    if dtype not in _STORED_DTYPES:
        raise _Uncacheable(f"weight dtype {dtype}")
    if value.is_meta:  # a weightless archive (exported under FakeTensorMode): no bytes to store
        raise _Uncacheable("weight without data (meta tensor)")
    tensor = value.detach().cpu().contiguous()
    if dtype == "bfloat16":
        import torch  # present: only a torch-traced graph holds torch tensors

        return tensor.view(torch.int16).numpy().view(np.uint16), dtype
    return np.asarray(tensor.numpy()), dtype


def store(key: str, graph: OpGraph, extra: Mapping[str, Any] | None = None) -> bool:
    """Write ``graph`` under ``key``; False (and nothing written) when it cannot be cached.

    A failure here never fails the estimate that traced the graph: the cache is an
    optimisation, and the next run simply traces again.
    """
    try:
        payload = _serialise(key, graph, extra or {})
    except _Uncacheable:
        return False
    if len(payload) > MAX_ENTRY_BYTES:
        return False
    directory = cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not _owned_privately(directory):
            return False
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".partial-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(payload)
            os.replace(tmp, directory / f"{key}{SUFFIX}")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _trim(directory)
    except OSError:
        return False
    return True


def _serialise(key: str, graph: OpGraph, extra: Mapping[str, Any]) -> bytes:
    chunks: list[bytes] = []
    offset = 0
    nodes = []
    for op_id in graph.order:
        data = graph.dag.nodes[op_id]
        entry: dict[str, Any] = {
            "op": _encode_op(data["op"]),
            "position": int(data.get("position", 0)),
            "weight": None,
        }
        if data.get("weight") is not None:
            array, dtype = _weight_array(data["weight"])
            raw = array.astype(_STORED_DTYPES[dtype], copy=False).tobytes()
            entry["weight"] = {"dtype": dtype, "shape": list(array.shape), "offset": offset}
            padded = raw + b"\0" * (_aligned(len(raw)) - len(raw))
            chunks.append(padded)
            offset += len(padded)
        nodes.append(entry)
    header = {
        "format": FORMAT,
        "key": key,
        "info": _encode_info(graph.info),
        "nodes": nodes,
        "edges": [[u, v, int(d["bytes"])] for u, v, d in graph.dag.edges(data=True)],
        "extra": dict(extra),
    }
    text = json.dumps(header, separators=(",", ":")).encode()
    start = len(MAGIC) + 8 + len(text)
    pad = b"\0" * (_aligned(start) - start)
    return b"".join([MAGIC, struct.pack("<Q", len(text)), text, pad, *chunks])


def _trim(directory: Path) -> None:
    """Delete least recently used entries until the cache is under ``MAX_CACHE_BYTES``."""
    entries = []
    for path in directory.glob(f"*{SUFFIX}"):
        try:
            st = path.stat()
        except OSError:
            continue
        entries.append((st.st_mtime, st.st_size, path))
    total = sum(size for _, size, _ in entries)
    for _, size, path in sorted(entries, key=lambda e: e[0]):
        if total <= MAX_CACHE_BYTES:
            break
        path.unlink(missing_ok=True)
        total -= size

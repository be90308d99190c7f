"""``trace_onnx``: an ONNX file -> an ``OpGraph``, with no torch in the way.

Read (``onnx_load``: bounded, external data confined), fix the inputs' shapes and infer every
tensor's (``onnx_graph``), fuse what exporters spelled out in primitives (``onnx_fuse``), make
one ``Op`` per node (``onnx_build``), then the same inference passes as a torch model
(batch-norm folding, pointwise fusion). docs/onnx.md says why hwsim reads ONNX with its own op
table instead of converting to torch first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..graph import OpGraph
from .onnx_build import build_onnx_graph
from .onnx_fuse import fuse_patterns
from .onnx_graph import read_graph
from .onnx_load import files_unchanged as _files_unchanged
from .onnx_load import load_onnx
from .passes import run_inference_passes
from .shapes import InputShapes


def trace_onnx(
    path: Path,
    *,
    batch: int | None = None,
    input_shapes: InputShapes = (),
    fold_bn: bool = True,
    fuse: bool = True,
) -> tuple[OpGraph, list[list[str]]]:
    """The graph of the ONNX model at ``path``, and the external data files it read (with
    their digests, for the graph cache)."""
    loaded = load_onnx(path)
    graph = read_graph(loaded, path, batch=batch, input_shapes=input_shapes)
    if fuse:
        fuse_patterns(graph)
    ops = build_onnx_graph(graph)
    files = [[name, digest] for name, digest in loaded.files]
    return run_inference_passes(ops, fold_bn=fold_bn, fuse=fuse), files


def files_unchanged(target: Any, extra: Any) -> bool:
    """Whether a cache entry's external data files still hold what it was built from."""
    files = extra.get("files", []) if isinstance(extra, dict) else None
    return files is not None and _files_unchanged(Path(target), files)

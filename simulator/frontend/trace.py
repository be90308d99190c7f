"""``trace``: anything the user has -> an ``OpGraph``, through the frontend that reads it.

A SCALE-Sim topology (``.csv``) is read as rows, an ONNX model (``.onnx``) through hwsim's ONNX
op table, and everything else (a ``.pt2``, TorchScript, state_dict, pickled module, live
module, exported program or workload name) through torch.export. A file or workload is looked
up in the graph cache first (``graph_cache``), so repeating an estimate skips tracing.

Each frontend is imported when it is first needed: importing torch takes seconds, and neither
a cached graph nor an ONNX model needs it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..graph import OpGraph
from . import graph_cache
from .shapes import check_batch, parse_input_shapes

if TYPE_CHECKING:
    import torch
    from torch import nn

    Target = str | Path | nn.Module | torch.export.ExportedProgram


def _suffix(target: object) -> str:
    return Path(target).suffix.lower() if isinstance(target, (str, Path)) else ""


def trace(
    target: Target,
    *,
    batch: int | None = None,
    input_shapes: str | Sequence[str] | None = None,
    example_inputs: tuple[torch.Tensor, ...] | None = None,
    trust_pickle: bool = False,
    arch: str | None = None,
    fold_bn: bool = True,
    fuse: bool = True,
    cache: bool = True,
) -> OpGraph:
    """Trace a model, file or workload name into an ``OpGraph`` (once; estimate it many times).

    ``batch`` replaces the first dimension of every input; ``input_shapes`` ("1,3,224,224",
    several separated by ";") overrides what the model records (and fixes an ONNX model's
    dynamic dimensions). ``cache=False`` neither reads nor writes the graph cache.
    """
    suffix = _suffix(target)
    if suffix == ".csv" and isinstance(target, (str, Path)):
        from .scalesim_topology import graph_from_topology

        return graph_from_topology(target)  # a SCALE-Sim topology, not a model
    check_batch(batch)
    shapes = parse_input_shapes(input_shapes)
    options: dict[str, Any] = {
        "batch": batch,
        "input_shapes": [[list(s), d] for s, d in shapes],
        "trust_pickle": trust_pickle,
        "arch": arch,
        "fold_bn": fold_bn,
        "fuse": fuse,
    }
    use_cache = cache and example_inputs is None and graph_cache.enabled()
    key = graph_cache.key_for(target, options) if use_cache else None
    if suffix == ".onnx" and isinstance(target, (str, Path)):
        from . import onnx_frontend as frontend

        if key is not None:
            unchanged = functools.partial(frontend.files_unchanged, target)
            hit = graph_cache.load(key, source=str(target), verify_files=unchanged)
            if hit is not None:
                return hit
        graph, files = frontend.trace_onnx(
            Path(target), batch=batch, input_shapes=shapes, fold_bn=fold_bn, fuse=fuse
        )
        if key is not None:
            graph_cache.store(key, graph, extra={"files": files})
        return graph
    retrace = functools.partial(
        _trace_torch,
        target,
        batch=batch,
        input_shapes=input_shapes,
        trust_pickle=trust_pickle,
        arch=arch,
        fold_bn=fold_bn,
        fuse=fuse,
    )
    if key is not None:
        hit = graph_cache.load(key, source=str(target), retrace=retrace)
        if hit is not None:
            return hit
    graph = retrace(example_inputs=example_inputs)
    if key is not None:
        graph_cache.store(key, graph)
    return graph


def _trace_torch(target: Any, **kwargs: Any) -> OpGraph:
    from .torch_trace import trace_torch

    return trace_torch(target, **kwargs)

"""A torch model, program, file or workload name -> an ``OpGraph``, through torch.export.

torch.export (non-strict) propagates fake tensors, so shapes come without running the model.
The graph is used as export leaves it (high-level ATen: conv2d, linear, batch_norm,
scaled_dot_product_attention), without ``run_decompositions``, which would double the time to
trace; the few in-place variants it contains map to their out-of-place kinds.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from ..errors import InputShapeError, TraceError
from ..graph import OpGraph
from ..ops import GraphInfo, TensorSpec
from .ao_modules import dequantize_ao_modules, has_ao_quantized_modules
from .builder import build_graph
from .loader import Loaded, fake_inputs, load_target, make_inputs, with_batch
from .passes import run_inference_passes
from .shapes import parse_input_shapes

Target = str | Path | nn.Module | torch.export.ExportedProgram


@contextmanager
def _quiet_export() -> Iterator[None]:
    """torch.export's own deprecation chatter is not the user's problem; keep stderr for ours."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*treespec, LeafSpec.*", category=FutureWarning)
        yield


def _is_static(program: torch.export.ExportedProgram) -> bool:
    for node in program.graph.nodes:
        val = node.meta.get("val")
        is_input = node.op == "placeholder" and isinstance(val, torch.Tensor)
        if is_input and not all(isinstance(d, int) for d in val.shape):
            return False
    return True


def _placeholder_inputs(program: torch.export.ExportedProgram) -> tuple[torch.Tensor, ...] | None:
    user = set(program.graph_signature.user_inputs)
    specs = []
    for node in program.graph.nodes:
        if node.op == "placeholder" and node.name in user:
            val = node.meta.get("val")
            if not isinstance(val, torch.Tensor) or not all(isinstance(d, int) for d in val.shape):
                return None
            specs.append((tuple(int(d) for d in val.shape), val.dtype))
    return fake_inputs(specs)


def _choose_inputs(
    loaded: Loaded,
    batch: int | None,
    input_shapes: str | Sequence[str] | None,
    example_inputs: tuple[torch.Tensor, ...] | None,
) -> tuple[torch.Tensor, ...]:
    known = loaded.inputs
    if known is None and loaded.program is not None:
        known = _placeholder_inputs(loaded.program)
    if example_inputs is not None:
        inputs = tuple(example_inputs)
    elif input_shapes is not None:
        inputs = make_inputs(parse_input_shapes(input_shapes), like=known)
    elif known is not None:
        inputs = known
    else:
        raise InputShapeError(
            f"{loaded.source}: the input shapes are not recorded in this model; pass "
            "--input-shape, e.g. --input-shape 1,3,224,224"
        )
    return with_batch(inputs, batch) if batch is not None else inputs


def _retraceable(program: torch.export.ExportedProgram) -> nn.Module:
    """The program as a module that accepts new input shapes (a new batch size).

    ``module()`` installs a pre-hook that pins inputs to the exported shapes; re-tracing with
    other shapes is exactly what ``--batch`` asks for, so that one hook is removed. Graphs with
    shapes baked into their ops still fail, with a hint to export with a dynamic batch.
    """
    module = program.module(check_guards=False)
    hooks = module._forward_pre_hooks
    for key, hook in list(hooks.items()):
        if getattr(hook, "__name__", "") == "_check_input_constraints_pre_hook":
            del hooks[key]
    return module


def _export(loaded: Loaded, inputs: tuple[torch.Tensor, ...]) -> torch.export.ExportedProgram:
    shapes = ", ".join(str(tuple(t.shape)) for t in inputs)
    if isinstance(loaded.module, nn.Module) and has_ao_quantized_modules(loaded.module):
        loaded = dataclasses.replace(
            loaded, module=dequantize_ao_modules(loaded.module, loaded.source)
        )
    try:
        with torch.no_grad(), _quiet_export():
            if isinstance(loaded.module, torch.jit.ScriptModule):
                from torch._export.converter import TS2EPConverter

                return TS2EPConverter(loaded.module, inputs).convert()
            if loaded.module is not None:
                module = loaded.module
            elif loaded.program is not None:
                module = _retraceable(loaded.program)
            else:
                raise TraceError(f"{loaded.source}: nothing to trace")
            return torch.export.export(module, inputs, strict=False)
    except Exception as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = (
            " (the archive has fixed shapes; export it with dynamic_shapes="
            "{'x': {0: torch.export.Dim.DYNAMIC}} to vary the batch)"
            if loaded.program is not None
            else ""
        )
        raise TraceError(
            f"{loaded.source}: torch.export failed with inputs {shapes}: {message[:300]}{hint}"
        ) from None


def trace_torch(
    target: Target,
    *,
    batch: int | None = None,
    input_shapes: str | Sequence[str] | None = None,
    example_inputs: tuple[torch.Tensor, ...] | None = None,
    trust_pickle: bool = False,
    arch: str | None = None,
    fold_bn: bool = True,
    fuse: bool = True,
) -> OpGraph:
    """Trace a torch model, program, file or workload name into an ``OpGraph``.

    ``batch`` replaces the first dimension of every input; ``input_shapes`` ("1,3,224,224",
    several separated by ";") overrides what the model records.
    """
    loaded = load_target(target, trust_pickle=trust_pickle, arch=arch)
    reshaped = batch is not None or input_shapes is not None or example_inputs is not None
    if loaded.program is not None and not reshaped and _is_static(loaded.program):
        program = loaded.program
        inputs = loaded.inputs or _placeholder_inputs(program) or ()
    else:
        inputs = _choose_inputs(loaded, batch, input_shapes, example_inputs)
        program = _export(loaded, inputs)
    specs = tuple(
        TensorSpec(tuple(int(d) for d in t.shape), str(t.dtype).removeprefix("torch."))
        for t in inputs
    )
    info = GraphInfo(
        source=loaded.source,
        inputs=specs,
        batch=specs[0].shape[0] if specs and specs[0].shape else 1,
    )
    return run_inference_passes(build_graph(program, info), fold_bn=fold_bn, fuse=fuse)

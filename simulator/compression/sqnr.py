"""Accuracy proxy: how far compression moves each layer's output and the model's output.

It runs the exported program twice on one fixed sample input, once as is and once with every
compressed op fed its compressed weight (and, for quantized activations, its input rounded to
the activation width), and reports SQNR = 10 log10(signal power / error power) in dB per
layer and end to end. It is a proxy, labelled as such: random or single-sample inputs say
nothing about task accuracy, but a layer at 10 dB is a layer to keep dense.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx
from torch.export.graph_signature import InputKind

from ..frontend.builder import Constants
from ..graph import OpGraph
from .quantize import quantize_activation, to_float_format
from .spec import CompressionError
from .transform import Applied


@dataclass(frozen=True)
class Sqnr:
    """SQNR in dB (``inf`` when nothing moved): of the model's output with every layer
    compressed, and of each compressed op's output given uncompressed inputs (by op id)."""

    output_db: float
    layers_db: Mapping[str, float]


def sqnr_db(reference: torch.Tensor, other: torch.Tensor) -> float:
    ref = reference.detach().double().flatten()
    err = (ref - other.detach().double().flatten()).pow(2).sum().item()
    signal = ref.pow(2).sum().item()
    if err == 0.0:
        return math.inf
    return 10.0 * math.log10(max(signal, 1e-300) / err)


def sample_inputs(graph: OpGraph, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """A fixed, seeded input per model input: N(0, 1) floats, token ids in [0, 100)."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for spec in graph.info.inputs:
        dtype = getattr(torch, spec.dtype)
        if dtype.is_floating_point:
            out.append(torch.randn(spec.shape, generator=gen).to(dtype))
        else:
            out.append(torch.randint(0, 100, spec.shape, generator=gen, dtype=dtype))
    return tuple(out)


def _program_args(program: Any, inputs: tuple[torch.Tensor, ...]) -> list[Any]:
    user = iter(inputs)
    tensors = {**program.state_dict, **program.constants}
    args: list[Any] = []
    for spec in program.graph_signature.input_specs:
        args.append(next(user) if spec.kind is InputKind.USER_INPUT else tensors[spec.target])
    return args


class _Run(fx.Interpreter):
    """Runs the program with compressed weights swapped in.

    ``propagate`` runs the compressed model end to end. Otherwise every compressed op is run
    twice on the *reference* inputs, its SQNR recorded and the reference result passed on, so
    a layer's figure is the error it adds, not the error it inherits.
    """

    def __init__(self, program: Any, swaps: Mapping[str, Applied], propagate: bool) -> None:
        super().__init__(program.graph_module)
        self.swaps = swaps
        self.propagate = propagate
        self.layers: dict[str, float] = {}
        # The frontend's own notion of a weight: parameters, buffers and what folds from them.
        self.constants = Constants.of_program(program)

    def run_node(self, n: fx.Node) -> Any:
        applied = self.swaps.get(n.name)
        if applied is None or n.op != "call_function":
            return super().run_node(n)
        args, kwargs = self.fetch_args_kwargs_from_env(n)
        swapped = self.call_function(n.target, self._swap(n, list(args), applied), kwargs)
        if self.propagate:
            return swapped
        result = self.call_function(n.target, args, kwargs)
        if isinstance(result, torch.Tensor) and result.is_floating_point():
            self.layers[n.name] = sqnr_db(result, swapped)
        return result

    def _swap(self, n: fx.Node, args: list[Any], applied: Applied) -> tuple[Any, ...]:
        for i, a in enumerate(n.args):
            if isinstance(a, fx.Node) and a in self.constants and applied.weight is not None:
                args[i] = applied.weight.to(args[i].dtype).reshape(args[i].shape)
                break
        if args and isinstance(args[0], torch.Tensor):
            if applied.float_format is not None:
                args[0] = to_float_format(args[0], applied.float_format)
            elif applied.act_bits is not None:
                args[0] = quantize_activation(args[0], applied.act_bits)
        return tuple(args)


# The proxy runs the model on real tensors (estimates only ever see shapes): a batch of
# thousands of images would allocate terabytes. It does not depend on the batch. Measured on
# the largest tensor any op reads or writes: the interpreter frees each value after its last
# use, so the run holds a few tensors of that size at a time, not their sum.
MAX_SQNR_ACTIVATION_BYTES = 2**30


def output_sqnr(original: OpGraph, compressed: OpGraph, seed: int = 0) -> Sqnr:
    """SQNR of ``compressed`` against ``original`` on a seeded sample input."""
    program = original.exported_program()
    if program is None:
        raise CompressionError(
            f"{original.info.source}: the accuracy proxy runs the model through torch.export; "
            "it needs a PyTorch model, not a topology or an ONNX file"
        )
    needed = max((max(op.input_bytes, op.output_bytes) for op in original), default=0)
    if needed > MAX_SQNR_ACTIVATION_BYTES:
        raise CompressionError(
            f"--sqnr runs {original.info.source} on real tensors: a tensor of "
            f"{needed / 1e9:,.1f} GB at batch {original.info.batch}, over the "
            f"{MAX_SQNR_ACTIVATION_BYTES // 2**20} MiB limit; the proxy does not depend on the "
            "batch, so ask for it at --batch 1"
        )
    swaps = {
        op_id: data["compression"]
        for op_id, data in compressed.dag.nodes(data=True)
        if data.get("compression") is not None
    }
    args = _program_args(program, sample_inputs(original, seed))
    with torch.no_grad():
        reference = _Run(program, {}, propagate=True).run(*args)
        isolated = _Run(program, swaps, propagate=False)
        isolated.run(*args)
        end_to_end = _Run(program, swaps, propagate=True).run(*args)
    return Sqnr(sqnr_db(_flatten(reference), _flatten(end_to_end)), isolated.layers)


def _flatten(out: Any) -> torch.Tensor:
    leaves = [t for t in torch.utils._pytree.tree_leaves(out) if isinstance(t, torch.Tensor)]
    floats = [t.detach().double().flatten() for t in leaves if t.is_floating_point()]
    if not floats:
        raise CompressionError("the model has no floating-point output to compare")
    return torch.cat(floats)

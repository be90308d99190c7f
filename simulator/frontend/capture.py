"""``capture``: an ``nn.Module`` -> ``OpGraph`` in milliseconds, without ``torch.export``.

A NAS loop prices thousands of candidate modules; ``torch.export`` spends most of a second on
each (tracing machinery, functionalization, the program's verifier), far more than pricing.
This frontend runs the module once on meta-device inputs under a ``TorchDispatchMode`` and
records every ATen call with its operands and output shapes as the builder's ``Call``
records, which the export frontend's own builder (``builder.build_from_calls``) and passes
turn into the same
``OpGraph``: the same kinds, MACs, fusion and weight statistics, read from the real
parameters where the module has them.

Why the ops are the same ones export sees: export's graph keeps the composite ATen ops
(``conv2d``, ``linear``, ``batch_norm``) because it traces above the autograd keys. Under
``torch.inference_mode`` the autograd keys are skipped, so the Python dispatch key, where a
dispatch mode runs, is reached before a composite op decomposes: the mode sees ``conv2d``
with the argument lists export records. Module paths and types (export's
``nn_module_stack``) come from wrapping ``nn.Module.__call__`` while capturing.

Shapes come from ``shape_rules`` for the hot ops and from the meta kernels otherwise; nothing
is computed on real data. A model whose Python code reads tensor values (``x.item()``,
data-dependent branches) cannot be captured on meta tensors; the error says so, and
``hwsim.trace`` is the way for it.
"""

from __future__ import annotations

import contextlib
import functools
import operator
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from ..errors import TraceError
from ..graph import OpGraph
from ..ops import GraphInfo, TensorSpec
from .ao_modules import dequantize_ao_modules, is_ao_quantized
from .builder import Call, Constants, build_from_calls
from .passes import run_inference_passes
from .shape_rules import Rule, rule_for

_META = torch.device("meta")


def _packet_name(func: Any) -> str:
    packet = getattr(func, "overloadpacket", None)
    return str(getattr(packet, "__name__", None) or getattr(func, "__name__", func))


@functools.cache
def _resolved(func: Any) -> tuple[str, Rule | None, bool]:
    """What the dispatch hook reads of an operator on every call, read once per operator:
    its packet name (the record's name), its shape rule, and whether it mutates."""
    return (
        _packet_name(func),
        rule_for(_packet_name(func), func._overloadname),
        bool(func._schema.is_mutable),
    )


class _Recorder(TorchDispatchMode):
    """Records each ATen call as a ``Call``; tensors map to the calls that produced them.

    Every tensor the model touches is kept alive until the capture ends, so an ``id`` is never
    reused for another tensor while the map is in use.
    """

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        """No ``torch._disable_dynamo`` wrapper around the hook (a few microseconds on every
        ATen call): the capture never runs under dynamo, so there is nothing to skip."""
        return False

    def __init__(self, module: nn.Module, named: list[tuple[str, nn.Module]]) -> None:
        super().__init__()
        self.calls: list[Call] = []
        self.values: dict[str, torch.Tensor | None] = {}  # constant placeholder -> real value
        self.fqn: dict[str, str] = {}  # constant placeholder -> its name in the module
        self.parameters: set[str] = set()  # the placeholders that are parameters
        self._nodes: dict[int, Call] = {}
        self._pending: dict[int, tuple[Call, int]] = {}  # element i of a tuple output
        self._names: dict[str, int] = {}
        self._meta: dict[int, torch.Tensor] = {}  # a real tensor's meta twin
        self._alive: list[Any] = []
        self._paths = {id(m): (path, type(m).__name__) for path, m in named}
        # The module calls running: (a key per call, (path, class name)).
        self._stack: list[tuple[int, tuple[str, str]]] = []
        self._scopes: tuple[int, ...] = ()
        self._entered = 0
        # module.named_parameters() and named_buffers(), read in the one walk ``named`` made.
        self._params: dict[str, torch.Tensor] = {}
        params: dict[int, str] = {}
        buffers: dict[int, str] = {}
        for path, sub in named:
            prefix = f"{path}." if path else ""
            for key, tensor in sub._parameters.items():
                if tensor is not None and id(tensor) not in params:
                    params[id(tensor)] = prefix + key
                    self._params[prefix + key] = tensor
            for key, buffer in sub._buffers.items():
                if buffer is not None and id(buffer) not in buffers:
                    buffers[id(buffer)] = prefix + key
        self._named = {**buffers, **params}

    # --- module scopes ----------------------------------------------------------------------

    def enter_module(self, module: nn.Module, *_: Any) -> None:
        self._entered += 1
        self._stack.append((self._entered, self._paths.get(id(module)) or self._current()))
        self._scopes = (*self._scopes, self._entered)

    def exit_module(self, module: nn.Module, *_: Any) -> None:
        if self._stack:
            self._stack.pop()
            self._scopes = self._scopes[:-1]

    def _current(self) -> tuple[str, str]:
        return self._stack[-1][1] if self._stack else ("", "")

    # --- tensors and nodes ------------------------------------------------------------------

    def _add(self, base: str, op: str, **fields: Any) -> Call:
        """A new record named like export names its nodes: ``conv2d``, ``conv2d_1``..."""
        count = self._names.get(base, 0)
        self._names[base] = count + 1
        call = Call(name=f"{base}_{count}" if count else base, op=op, **fields)
        self.calls.append(call)
        return call

    def add_input(self, name: str, tensor: torch.Tensor) -> torch.Tensor:
        """A model input: a placeholder node, fed to the model as a meta tensor."""
        meta = torch.empty_strided(
            tuple(tensor.shape), tuple(tensor.stride()), dtype=tensor.dtype, device=_META
        )
        self._bind(meta, self._add(name, "placeholder", val=meta))
        return meta

    def _bind(self, tensor: torch.Tensor, node: Call) -> None:
        self._nodes[id(tensor)] = node
        self._pending.pop(id(tensor), None)
        self._alive.append(tensor)

    def _constant(self, tensor: torch.Tensor) -> Call:
        """A tensor the graph did not produce: a parameter, buffer or tensor attribute."""
        name = self._named.get(id(tensor))
        # The record's value is the tensor itself: the builder reads only its shape and dtype
        # (a meta twin is made only if a meta kernel must run on it).
        node = self._add(f"c_{(name or 'constant').replace('.', '_')}", "placeholder", val=tensor)
        self.values[node.name] = None if tensor.is_meta else tensor
        self.fqn[node.name] = name or node.name
        if name in self._params:
            self.parameters.add(node.name)
        self._bind(tensor, node)
        return node

    def add_unread_parameters(self) -> None:
        """A placeholder for each parameter no op read, as export lifts every parameter: the
        model's parameter count includes them (``GraphInfo.unread_params``)."""
        for tensor in self._params.values():
            if id(tensor) not in self._nodes:
                self._constant(tensor)

    def _node_of(self, tensor: torch.Tensor) -> Call:
        key = id(tensor)
        node = self._nodes.get(key)
        if node is not None:
            return node
        pending = self._pending.get(key)
        if pending is not None:
            parent, index = pending
            node = self._add(
                "getitem",
                "call_function",
                target=operator.getitem,
                args=(parent, index),
                val=tensor,
                module=parent.module,
                scopes=parent.scopes,
            )
            self._bind(tensor, node)
            return node
        return self._constant(tensor)

    def _as_meta(self, tensor: torch.Tensor) -> torch.Tensor:
        if tensor.device == _META:
            return tensor
        twin = self._meta.get(id(tensor))
        if twin is None:
            twin = torch.empty_strided(
                tuple(tensor.shape), tuple(tensor.stride()), dtype=tensor.dtype, device=_META
            )
            self._meta[id(tensor)] = twin
            self._alive.append(tensor)
        return twin

    def _map(self, value: Any, tensor_fn: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return tensor_fn(value)
        if isinstance(value, (list, tuple)):
            return type(value)(self._map(v, tensor_fn) for v in value)
        return value

    # --- the dispatch hook ------------------------------------------------------------------

    def __torch_dispatch__(
        self, func: Any, types: Any, args: Sequence[Any] = (), kwargs: Any = None
    ) -> Any:
        kwargs = kwargs or {}
        packet, rule, mutable = _resolved(func)
        node_of = self._node_of
        node_args = tuple(
            [
                node_of(a)
                if isinstance(a, torch.Tensor)
                else self._map(a, node_of)
                if isinstance(a, (list, tuple))
                else a
                for a in args
            ]
        )
        node_kwargs = {k: self._map(v, node_of) for k, v in kwargs.items()} if kwargs else {}
        if node_kwargs.get("device") == _META:
            # Created on the inputs' device: the real one (CPU) for a constant's value, as
            # export records it; the op itself runs on meta below.
            node_kwargs["device"] = torch.device("cpu")
        out = rule(args, kwargs) if rule is not None else None
        if out is None:
            meta_args = self._map(tuple(args), self._as_meta)
            meta_kwargs = {k: self._map(v, self._as_meta) for k, v in kwargs.items()}
            if "device" in meta_kwargs:
                meta_kwargs["device"] = _META
            out = func(*meta_args, **meta_kwargs)
            if mutable and args and out is self._as_meta(args[0]):
                out = args[0]  # in place on a real tensor: the model keeps the real object
        if not mutable and any(out is a for a in args):
            return out  # a composite that returned its input (contiguous() of a contiguous
            # tensor): no op, and export records none
        node = self._add(
            packet,
            "call_function",
            target=func,
            args=node_args,
            kwargs=node_kwargs,
            val=out,
            module=self._stack[-1][1] if self._stack else ("", ""),
            scopes=self._scopes,
        )
        if isinstance(out, torch.Tensor):
            self._bind(out, node)
        elif isinstance(out, (tuple, list)):
            for index, item in enumerate(out):
                if isinstance(item, torch.Tensor):
                    self._pending[id(item)] = (node, index)
                    self._alive.append(item)
        return out


@contextlib.contextmanager
def _module_scopes(recorder: _Recorder) -> Iterator[None]:
    """Tell the recorder which module is running (export's ``nn_module_stack``).

    ``nn.Module.__call__`` is wrapped while capturing, as torch.export's tracer wraps it: the
    scope spans the whole call, the module's own hooks included. Global module hooks would
    tell the same, but they put every module call on torch's slow path (a few microseconds
    each, hundreds of calls per NAS candidate); a call with no hooks of its own stays on
    the fast path here."""
    original = nn.Module.__call__
    enter, leave = recorder.enter_module, recorder.exit_module

    def call(module: nn.Module, *args: Any, **kwargs: Any) -> Any:
        enter(module)
        try:
            return original(module, *args, **kwargs)
        finally:
            leave(module)

    setattr(nn.Module, "__call__", call)  # noqa: B010 (mypy: no assigning to a method)
    try:
        yield
    finally:
        setattr(nn.Module, "__call__", original)  # noqa: B010


@contextlib.contextmanager
def _as_export_sees_it() -> Iterator[None]:
    """Run the model the way ``torch.export`` runs it.

    No autograd (so the dispatch mode sees composite ops whole, see the module doc), and the
    flags export raises (``torch.compiler.is_exporting()``/``is_compiling()``), which model
    code reads to choose its traceable branch: transformers builds an explicit attention mask
    when exporting and skips it in eager mode. The graph is then the one export would build.
    """
    compiler: Any = torch.compiler
    flags = (compiler._is_compiling_flag, compiler._is_exporting_flag)
    try:
        compiler._is_compiling_flag = compiler._is_exporting_flag = True
        with torch.no_grad(), torch._C._AutoDispatchBelowAutograd():
            yield
    finally:
        compiler._is_compiling_flag, compiler._is_exporting_flag = flags


def _as_tuple(example_inputs: torch.Tensor | Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    inputs = (example_inputs,) if isinstance(example_inputs, torch.Tensor) else example_inputs
    inputs = tuple(inputs)
    if not inputs or not all(isinstance(t, torch.Tensor) for t in inputs):
        raise TraceError("example inputs must be a tensor or a sequence of tensors")
    return inputs


def capture(
    module: nn.Module,
    example_inputs: torch.Tensor | Sequence[torch.Tensor],
    *,
    fold_bn: bool = True,
    fuse: bool = True,
) -> OpGraph:
    """Trace ``module`` on the shapes and dtypes of ``example_inputs`` (their values are never
    read; meta tensors will do) into the ``OpGraph`` that ``hwsim.trace`` would build.

    The module is put in eval mode, as ``hwsim.trace`` does; eager quantized modules are
    rewritten (in a copy) the same way.
    """
    inputs = _as_tuple(example_inputs)
    source = type(module).__name__
    named = list(module.named_modules())
    if any(m.training for _, m in named):
        module = module.eval()
    if any(is_ao_quantized(m) for _, m in named):
        module = dequantize_ao_modules(module, source)
        named = list(module.named_modules())
    recorder = _Recorder(module, named)
    metas = [recorder.add_input(f"arg{i}", t) for i, t in enumerate(inputs)]
    try:
        with _as_export_sees_it(), _module_scopes(recorder), recorder:
            module(*metas)
    except Exception as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TraceError(
            f"{source}: capture on meta tensors failed: {message[:300]} (a model that reads "
            "tensor values while it runs needs hwsim.trace)"
        ) from None
    specs = tuple(
        TensorSpec(tuple(int(d) for d in t.shape), str(t.dtype).removeprefix("torch."))
        for t in inputs
    )
    info = GraphInfo(source=source, inputs=specs, batch=specs[0].shape[0] if specs[0].shape else 1)
    recorder.add_unread_parameters()
    constants = Constants(recorder.calls, recorder.values, recorder.fqn, recorder.parameters)
    graph = build_from_calls(recorder.calls, constants, info)
    return run_inference_passes(graph, fold_bn=fold_bn, fuse=fuse)

"""Walk a traced program once and turn each ATen call into an ``Op``.

Two frontends trace: ``torch.export`` (``trace.py``) and the dispatch-mode capture
(``capture.py``). Both hand this module a list of ``Call`` records, one per ATen call or
input, and everything from there on is shared: constant folding, the ATen table, weight
statistics from the real parameter tensors, quantization widths, display names, parameter
sources. An op therefore means the same thing whichever way the model was traced.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import torch
from torch import fx

from ..errors import TraceError
from ..graph import OpGraph
from ..ops import DTYPE_BITS, MAC_KINDS, GraphInfo, Op, OpKind, TensorSpec
from .aten_table import QUANT_OPS, WEIGHT_ARGS, lookup
from .handlers import NodeShapes, TensorArg, Work
from .weight_stats import weight_stats

# A constant subgraph larger than this is not evaluated for statistics (its op is priced as
# dense): a crafted graph must not make hwsim allocate what its shapes claim.
MAX_CONSTANT_BYTES = 4 * 1024**3
# Ops that may hold a weight stored as a buffer (an int8 weight a dequantize reads).
_WEIGHT_HOLDERS = MAC_KINDS | {OpKind.EMBEDDING}


def _dim(d: Any) -> int:
    """A dimension as an int. A data-dependent size (the rows ``y[y > 0]`` or ``nonzero``
    keeps, an unbacked symbol to torch.export) is priced at its upper bound, every element
    kept; ``_data_dependent`` flags the op so reports say so."""
    if isinstance(d, int):
        return d
    node = getattr(d, "node", None)
    hint = getattr(node, "hint", None)
    if isinstance(hint, int):
        return hint
    shape_env = getattr(node, "shape_env", None)
    if node is not None and shape_env is not None:
        upper = shape_env.bound_sympy(node.expr).upper
        if getattr(upper, "is_finite", False) or isinstance(upper, int):
            return int(upper)
    raise TraceError(
        f"a tensor size depends on the data ({d}) and has no upper bound hwsim could price; "
        "bound it in the model (e.g. slice to a maximum length)"
    )


def _spec(value: Any) -> TensorSpec | None:
    if isinstance(value, torch.Tensor):
        shape = tuple(value.shape)
        if not all(type(d) is int for d in shape):  # symbolic sizes (export's fake tensors)
            shape = tuple(_dim(d) for d in shape)
        return _tensor_spec(shape, _dtype_name(value.dtype))
    return None


@functools.lru_cache(maxsize=8192)
def _tensor_spec(shape: tuple[int, ...], dtype: str) -> TensorSpec:
    """One ``TensorSpec`` value per shape and dtype: the graphs a NAS loop builds repeat a
    few hundred of them, and a shared spec has its sizes computed already."""
    return TensorSpec(shape=shape, dtype=dtype)


@functools.cache
def _dtype_name(dtype: torch.dtype) -> str:
    """``float32`` for ``torch.float32``: read for every tensor of every traced op."""
    return str(dtype).removeprefix("torch.")


@dataclass(eq=False)
class Call:
    """One input or ATen call of a traced program, as the builder reads it.

    ``args`` and ``kwargs`` hold literals and other ``Call`` records where the call reads a
    tensor; ``val`` is the output (a tensor or a tuple of them, meta or fake: only shapes and
    dtypes are read); ``module`` is the innermost ``nn.Module`` running it (path, class name).
    """

    name: str
    op: str  # "placeholder" or "call_function"
    target: Any = None  # an ATen OpOverload, or operator.getitem
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    val: Any = None
    module: tuple[str, str] = ("", "")
    # One key per nn.Module call running it, outermost first (export's ``nn_module_stack``
    # keys): a module call begins at the first op whose scopes hold its key.
    scopes: tuple[Any, ...] = ()


def _fx_module(node: fx.Node) -> tuple[str, str]:
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return "", ""
    path, mtype = list(stack.values())[-1]
    type_name = mtype if isinstance(mtype, str) else getattr(mtype, "__name__", str(mtype))
    return str(path), type_name.rsplit(".", 1)[-1]


def calls_of_fx(graph: fx.Graph) -> list[Call]:
    """The placeholders and calls of an fx graph (export's), in graph order."""
    calls: dict[fx.Node, Call] = {}
    for node in graph.nodes:
        if node.op not in ("placeholder", "call_function"):
            continue
        calls[node] = Call(
            name=node.name,
            op=node.op,
            target=node.target,
            args=_map_calls(node.args, calls.__getitem__),
            kwargs=_map_calls(dict(node.kwargs), calls.__getitem__),
            val=node.meta.get("val"),
            module=_fx_module(node),
            scopes=tuple(node.meta.get("nn_module_stack") or ()),
        )
    return list(calls.values())


def _map_calls(value: Any, fn: Callable[[Any], Any]) -> Any:
    """``value`` with every node (fx node or ``Call``) replaced by ``fn(node)``."""
    if isinstance(value, (fx.Node, Call)):
        return fn(value)
    if isinstance(value, (tuple, list)):
        return type(value)(_map_calls(v, fn) for v in value)
    if isinstance(value, dict):
        return {k: _map_calls(v, fn) for k, v in value.items()}
    return value


def _data_dependent(node: Call) -> bool:
    val = node.val
    values = val if isinstance(val, (tuple, list)) else (val,)
    return any(
        isinstance(v, torch.Tensor) and not all(isinstance(d, int) for d in v.shape) for v in values
    )


def _output_specs(node: Call) -> tuple[TensorSpec, ...]:
    val = node.val
    values = val if isinstance(val, (tuple, list)) else (val,)
    return tuple(s for s in (_spec(v) for v in values) if s is not None)


def _flat_nodes(args: Any) -> list[Call]:
    """The ``Call`` records in a nest of tuples, lists and dicts, in order."""
    found: list[Call] = []
    _collect_nodes(args, found)
    return found


def _collect_nodes(value: Any, found: list[Call]) -> None:
    if isinstance(value, Call):
        found.append(value)
    elif isinstance(value, (tuple, list)):
        for item in value:
            if isinstance(item, Call):
                found.append(item)
            elif isinstance(item, (tuple, list, dict)):
                _collect_nodes(item, found)
    elif isinstance(value, dict):
        for item in value.values():
            _collect_nodes(item, found)


def _literal(arg: Any) -> Any:
    """A positional argument with tensors blanked out, so handlers see only literals."""
    if isinstance(arg, Call):
        return None
    if isinstance(arg, (tuple, list)):
        return type(arg)(_literal(a) for a in arg)
    return arg


def _target_name(node: Call) -> str:
    try:
        return _name_of_target(node.target)
    except TypeError:  # an unhashable callable in a graph
        return _read_target_name(node.target)


@functools.lru_cache(maxsize=4096)
def _name_of_target(target: Any) -> str:
    """An operator's packet name, read once per operator (every call record asks)."""
    return _read_target_name(target)


def _read_target_name(target: Any) -> str:
    if target is operator.getitem:
        return "getitem"
    packet = getattr(target, "overloadpacket", None)
    name = getattr(packet, "__name__", None) or getattr(target, "__name__", str(target))
    return str(name)


def _module_calls(nodes: list[Call], kinds: dict[str, OpKind]) -> dict[str, int]:
    """Per node, the module calls that begin at it: entries of its module scopes (one per
    call of a module, keyed by call) that no earlier node's scopes held. Calls that begin
    at a free view are carried to the next op that does work, so no cost model drops them."""
    seen: set[Any] = set()
    out = {}
    carried = 0
    for node in nodes:
        new = [key for key in node.scopes if key not in seen]
        seen.update(new)
        if kinds[node.name] is OpKind.VIEW:
            carried += len(new)
            out[node.name] = 0
        else:
            out[node.name] = len(new) + carried
            carried = 0
    return out


class Constants:
    """Which nodes are load-time constants, and their real values on demand.

    A parameter, buffer or lifted constant is one; so is any call whose operands are all
    constants (``weight_orig * mask`` from ``torch.nn.utils.prune``, a dequantized weight, the
    position ids of a transformer). Deployment toolchains fold such subgraphs, so they are not
    ops; their values are what weight statistics must be read from.
    """

    def __init__(
        self,
        calls: Sequence[Call],
        values: Mapping[str, Any],
        fqn: Mapping[str, str],
        parameters: set[str],
    ) -> None:
        """``values`` maps each constant placeholder (a parameter, buffer or lifted constant)
        to its real tensor, or None where the value is not known; ``fqn`` to its name in the
        module; ``parameters`` names the placeholders that are parameters."""
        self._values: dict[str, Any] = {}
        self._nodes: dict[str, Call] = {}
        self._parameters = parameters
        self._roots: dict[str, tuple[Call, ...]] = {}
        for node in calls:
            if node.op == "placeholder" and node.name in fqn:
                self._values[node.name] = values.get(node.name)
                self._nodes[node.name] = node
            elif node.op == "call_function" and all(
                a.name in self._nodes for a in _flat_nodes((node.args, node.kwargs))
            ):
                self._nodes[node.name] = node
        self._storage = _storage_names(
            {name: (fqn[name], self._values[name]) for name in self._nodes if name in fqn}
        )

    @classmethod
    def of_program(
        cls, ep: torch.export.ExportedProgram, calls: Sequence[Call] | None = None
    ) -> Constants:
        """The constants of an exported program (``calls``: its graph, already read): what
        its signature lifts from the module."""
        sig = ep.graph_signature
        fqn = {
            **sig.inputs_to_parameters,
            **sig.inputs_to_buffers,
            **sig.inputs_to_lifted_tensor_constants,
        }
        tensors = {**ep.state_dict, **ep.constants}
        values = {name: tensors.get(target) for name, target in fqn.items()}
        calls = calls_of_fx(ep.graph) if calls is None else calls
        return cls(calls, values, fqn, set(sig.inputs_to_parameters))

    def __contains__(self, node: Call | fx.Node) -> bool:
        return node.name in self._nodes

    def value(self, node: Call) -> torch.Tensor | None:
        """The real tensor behind a constant node, evaluated (once) from its real inputs."""
        if node.name not in self._values:
            result = None
            if _evaluable(node):
                args = _map_calls(node.args, self._operand)
                kwargs = _map_calls(node.kwargs, self._operand)
                try:
                    with torch.no_grad():
                        result = node.target(*args, **kwargs)
                except Exception:  # a weight we cannot evaluate just has no statistics
                    result = None
            self._values[node.name] = result
        value = self._values[node.name]
        return value if isinstance(value, torch.Tensor) else None

    def roots(self, node: Call) -> tuple[Call, ...]:
        """The parameters, buffers and lifted constants a constant node is computed from."""
        if node.name not in self._roots:
            if node.op == "placeholder":
                found: tuple[Call, ...] = (node,)
            else:
                operands = _flat_nodes((node.args, node.kwargs))
                found = tuple(dict.fromkeys(r for a in operands for r in self.roots(a)))
            self._roots[node.name] = found
        return self._roots[node.name]

    def unread(self, dag: nx.DiGraph) -> tuple[tuple[str, int], ...]:
        """Parameters no op's sources name (see ``GraphInfo.unread_params``)."""
        read = {name for _, op in dag.nodes(data="op") for name, _ in op.param_sources or ()}
        return tuple(
            (self._storage[name], _numel(node))
            for name, node in self._nodes.items()
            if name in self._parameters and self._storage[name] not in read
        )

    def sources(self, operands: list[Call], weight: Call | None) -> tuple[tuple[str, int], ...]:
        """(name, elements) of the model's stored weights that ``operands`` read: every
        parameter they come from, and a buffer read as the weight itself (an int8 weight a
        dequantize reads) when no parameter is behind it. Position ids, masks and running
        statistics are buffers too, and are no weights."""
        found: dict[str, int] = {}
        for operand in operands:
            roots = self.roots(operand)
            params = [r for r in roots if r.name in self._parameters]
            for root in params:
                found[self._storage[root.name]] = _numel(root)
            if operand is weight and not params:
                size = _numel(operand)
                for root in roots:
                    if _numel(root) == size:
                        found[self._storage[root.name]] = size
        return tuple(found.items())

    def _operand(self, node: Call) -> torch.Tensor | None:
        """Operands are copies: an in-place op folded here must not touch the user's model."""
        value = self.value(node)
        return value.clone() if value is not None else None


def _storage_names(named: dict[str, tuple[str, Any]]) -> dict[str, str]:
    """Each placeholder's stored-tensor name: the first name of the tensors that share its
    storage, so a tied weight lifted under two names (GPT-2's embedding and head) is one."""
    first: dict[tuple[int, int, tuple[int, ...], tuple[int, ...]], str] = {}
    out: dict[str, str] = {}
    for placeholder, (name, tensor) in named.items():
        if isinstance(tensor, torch.Tensor) and not tensor.is_meta and tensor.numel():
            key = (
                tensor.untyped_storage().data_ptr(),
                int(tensor.storage_offset()),
                tuple(tensor.shape),
                tuple(tensor.stride()),
            )
            name = first.setdefault(key, name)
        out[placeholder] = name
    return out


def _numel(node: Call) -> int:
    spec = _spec(node.val)
    return spec.numel if spec is not None else 0


def _evaluable(node: Call) -> bool:
    """Whether a constant subgraph node may be computed for real: small enough, and an
    operator (a Python callable in a graph is never called here)."""
    spec = _spec(node.val)
    small = spec is None or spec.nbytes <= MAX_CONSTANT_BYTES
    operator_call = isinstance(node.target, torch._ops.OpOverload)
    return small and (operator_call or node.target is operator.getitem)


def _storage_bits(span: int) -> int:
    """Bits of the narrowest storage type holding ``span + 1`` integer levels."""
    needed = span.bit_length()
    return next((b for b in (4, 8, 16) if needed <= b), 32)


def _quant_bits(node: Call) -> int | None:
    """The integer width a quantize, dequantize or fake-quant node stores its tensor at, read
    from its ``quant_min``/``quant_max`` (or else its integer dtype); None for other nodes."""
    entry = QUANT_OPS.get(_target_name(node)) if node.op == "call_function" else None
    if entry is None:
        return None
    pos = entry[1]
    args = node.args[pos : pos + 2] if pos is not None else ()
    qmin, qmax = (*args, None, None)[:2]
    qmin = node.kwargs.get("quant_min", qmin)
    qmax = node.kwargs.get("quant_max", qmax)
    if isinstance(qmin, int) and isinstance(qmax, int) and qmax > qmin:
        return _storage_bits(qmax - qmin)
    operands = [a.val for a in _flat_nodes(node.args[:1])]
    for spec in (*(_spec(v) for v in operands), *_output_specs(node)):
        if spec and not spec.dtype.startswith(("float", "bfloat")):
            return DTYPE_BITS.get(spec.dtype, 8)
    return 8


def _weight_bits(node: Call, constants: Constants) -> int | None:
    """The width a weight is stored at when its constant subgraph (de)quantizes it: the
    narrowest quant op found walking up from ``node``, never past a quant op."""
    found: list[int] = []
    stack, seen = [node], set()
    while stack:
        current = stack.pop()
        if current.name in seen or current not in constants:
            continue
        seen.add(current.name)
        bits = _quant_bits(current)
        if bits is not None:
            found.append(bits)
        else:
            stack.extend(_flat_nodes((current.args, current.kwargs)))
    return min(found, default=None)


def _act_bits(activations: list[Call], kinds: dict[str, OpKind]) -> int | None:
    """The width of a quantized activation input: one produced by a dequantize or fake-quant
    op, looking through free view ops on the way."""
    found = []
    for node in activations:
        while node.op == "call_function" and kinds.get(node.name) is OpKind.VIEW and node.args:
            first = node.args[0]
            if not isinstance(first, Call):
                break
            node = first
        bits = _quant_bits(node)
        if bits is not None:
            found.append(bits)
    return min(found, default=None)


def _display_names(
    nodes: list[Call], kinds: dict[str, OpKind], owns_params: dict[str, bool]
) -> dict[str, str]:
    """The bare module path for the one op that owns a module's parameters (a Conv2d's conv);
    every other op is ``path/node`` so a residual add never reads as its whole block."""
    paths = {n.name: n.module[0] for n in nodes}
    real = Counter(paths[n.name] for n in nodes if kinds[n.name] is not OpKind.VIEW)
    names = {}
    for n in nodes:
        path = paths[n.name]
        if path and real[path] == 1 and owns_params[n.name]:
            names[n.name] = path
        else:
            names[n.name] = f"{path}/{n.name}" if path else n.name
    return names


def _tensor_arg(arg: Any, spec_of: Callable[[Call], TensorSpec | None]) -> TensorArg:
    if isinstance(arg, Call):
        return spec_of(arg)
    if isinstance(arg, (tuple, list)) and any(isinstance(a, Call) for a in arg):
        return tuple(spec_of(a) if isinstance(a, Call) else None for a in arg)
    return None


def _by_role(name: str, node: Call, weights: list[Call]) -> list[Call]:
    """Constant operands with the weight first (``WEIGHT_ARGS``), then the rest in call order."""
    preferred = WEIGHT_ARGS.get(name, ())
    rank: dict[str, int] = {}
    for order, index in enumerate(preferred):
        if index < len(node.args):
            for a in _flat_nodes(node.args[index]):
                rank.setdefault(a.name, order)
    return sorted(weights, key=lambda w: rank.get(w.name, len(preferred)))


def _kind_when_empty(kind: OpKind, work: Work, outputs: tuple[TensorSpec, ...]) -> OpKind:
    """An op with nothing to compute: no output elements is free, like a view; a product over
    an empty dimension (``nn.Linear(0, 4)``) only writes its output."""
    if kind is OpKind.VIEW or kind is OpKind.UNSUPPORTED:
        return kind
    if outputs and all(t.numel == 0 for t in outputs):
        return OpKind.VIEW
    if kind in MAC_KINDS and work.macs == 0:
        return OpKind.POINTWISE
    return kind


def _stats_of(tensor: torch.Tensor | None) -> Any:
    usable = tensor is not None and not tensor.is_meta and tensor.numel() > 0 and tensor.dim() > 0
    return weight_stats(tensor) if usable and tensor is not None else None


def build_graph(ep: torch.export.ExportedProgram, info: GraphInfo) -> OpGraph:
    """Turn every call in ``ep`` into an ``Op``; unmapped ATen ops become ``UNSUPPORTED``."""
    calls = calls_of_fx(ep.graph)
    return build_from_calls(calls, Constants.of_program(ep, calls), info, program=ep)


def build_from_calls(
    nodes: Sequence[Call], constants: Constants, info: GraphInfo, program: Any = None
) -> OpGraph:
    """Turn every call that is not a load-time constant into an ``Op``, in order; unmapped
    ATen ops become ``UNSUPPORTED``. ``program`` is the exported program, when there is one
    (the accuracy proxy runs it)."""
    calls = [n for n in nodes if n.op == "call_function" and n not in constants]
    # With no quantize, dequantize or fake-quant op anywhere (constants included), no
    # weight or activation has a stored width to find (``_quant_bits`` is None throughout).
    quantized = any(n.op == "call_function" and _target_name(n) in QUANT_OPS for n in nodes)
    entries = {n.name: lookup(_target_name(n)) for n in calls}
    kinds = {name: entry[0] if entry else OpKind.UNSUPPORTED for name, entry in entries.items()}
    operands_of = {n.name: list(_flat_nodes((n.args, n.kwargs))) for n in calls}
    owns_params = {n.name: any(a in constants for a in operands_of[n.name]) for n in calls}
    names = _display_names(calls, kinds, owns_params)
    module_calls = _module_calls(calls, kinds)
    specs: dict[str, TensorSpec | None] = {}  # each tensor's spec, read once

    def spec_of(node: Call) -> TensorSpec | None:
        if node.name not in specs:
            specs[node.name] = _spec(node.val)
        return specs[node.name]

    dag = nx.DiGraph()
    data_dependent: list[str] = []
    for position, node in enumerate(calls):
        entry = entries[node.name]
        target = _target_name(node)
        operands = operands_of[node.name]
        activations = [a for a in operands if a not in constants]
        if owns_params[node.name]:
            weights = _by_role(target, node, [a for a in operands if a in constants])
        else:
            weights = []
        in_specs = tuple(s for s in map(spec_of, activations) if s)
        param_specs = tuple(s for s in map(spec_of, weights) if s)
        outputs = (
            (spec,) if isinstance(node.val, torch.Tensor) and (spec := spec_of(node)) else None
        )
        # The positional arguments three ways, in one walk: literals (tensors blanked), the
        # tensors' specs, and which tensors are constants.
        literals: list[Any] = []
        tensor_args: list[TensorArg] = []
        constant_args: list[bool] = []
        for a in node.args:
            if isinstance(a, Call):
                literals.append(None)
                tensor_args.append(spec_of(a))
                constant_args.append(a in constants)
            else:
                literals.append(_literal(a) if isinstance(a, (tuple, list)) else a)
                tensor_args.append(_tensor_arg(a, spec_of))
                constant_args.append(False)
        shapes = NodeShapes(
            inputs=in_specs,
            params=param_specs,
            outputs=outputs if outputs is not None else _output_specs(node),
            args=tuple(literals),
            kwargs=tuple((k, _literal(v)) for k, v in node.kwargs.items()),
            tensor_args=tuple(tensor_args),
            constant_args=tuple(constant_args),
        )
        kind = kinds[node.name]
        try:
            work = entry[1](shapes) if entry else Work()
        except (ValueError, IndexError, TypeError, ZeroDivisionError) as exc:
            raise TraceError(
                f"{info.source}: cannot read the shapes of {names[node.name]} "
                f"(aten.{target}): {exc}"
            ) from None
        kind = _kind_when_empty(kind, work, shapes.outputs)
        stats = None
        tensor = None
        if kind in MAC_KINDS and weights:
            tensor = constants.value(weights[0])
            stats = _stats_of(tensor)
        moves_data = kind is not OpKind.VIEW
        is_quant = target in QUANT_OPS
        attrs = work.attrs
        if _data_dependent(node):
            data_dependent.append(names[node.name])
            attrs = (*attrs, ("data_dependent", True))
        op = Op(
            id=node.name,
            name=names[node.name],
            kind=kind,
            target=f"aten.{target}" if node.target is not operator.getitem else "getitem",
            inputs=in_specs,
            outputs=shapes.outputs,
            params=param_specs,
            macs=work.macs,
            flops=work.flops,
            read_bytes=sum(s.nbytes for s in in_specs) if moves_data else 0,
            write_bytes=sum(s.nbytes for s in shapes.outputs) if moves_data else 0,
            attrs=attrs,
            weight_stats=stats,
            module_type=node.module[1],
            module_calls=module_calls[node.name],
            weight_bits=_weight_bits(weights[0], constants)
            if quantized and kind in MAC_KINDS and weights
            else None,
            act_bits=None if is_quant or not quantized else _act_bits(activations, kinds),
            param_sources=constants.sources(
                weights, weights[0] if weights and kind in _WEIGHT_HOLDERS else None
            )
            if weights
            else (),
        )
        if work.epilogue_flops:
            op = _with_epilogue(dag, op, work.epilogue_flops, 2 * position, tensor)
            tensor = None
        # The real weight tensor (not part of the frozen Op): models that count per-tile
        # non-zeros, such as the systolic array's zero-skipping, read it from here.
        dag.add_node(node.name, op=op, position=2 * position + 1, weight=tensor)
        for src in activations:
            if src.op == "call_function":
                src_spec = spec_of(src)
                nbytes = src_spec.nbytes if src_spec else 0
                head = f"{node.name}{_PRODUCTS}" if work.epilogue_flops else node.name
                if dag.has_edge(src.name, head):
                    dag.edges[src.name, head]["bytes"] += nbytes
                else:
                    dag.add_edge(src.name, head, bytes=nbytes)
    notes = info.notes
    if data_dependent:
        notes += (
            f"{len(data_dependent)} op(s) have data-dependent sizes (e.g. {data_dependent[0]}); "
            "they are priced at their upper bound, every element kept",
        )
    info = dataclasses.replace(info, notes=notes, unread_params=constants.unread(dag))
    return OpGraph(dag=dag, info=info, program=program)


_PRODUCTS = "/products"


def _with_epilogue(
    dag: nx.DiGraph, op: Op, epilogue_flops: int, position: int, weight: torch.Tensor | None
) -> Op:
    """Split an op whose products are followed by elementwise work (an RNN's gates) into two
    graph nodes: the products (a GEMM writing its pre-activations) and the epilogue, a
    pointwise op under the original id that consumers read. Fusion then folds the epilogue
    into the products, as cuDNN's fused RNN kernels do."""
    gemm_out = sum(g[0] * g[1] * g[3] for g in _gemms(op))
    dtype = op.outputs[0].dtype if op.outputs else "float32"
    pre = TensorSpec((gemm_out,), dtype)
    products = dataclasses.replace(
        op, id=f"{op.id}{_PRODUCTS}", outputs=(pre,), write_bytes=pre.nbytes, flops=2 * op.macs
    )
    dag.add_node(products.id, op=products, position=position, weight=weight)
    dag.add_edge(products.id, op.id, bytes=pre.nbytes)
    return dataclasses.replace(
        op,
        name=f"{op.name}/gates",
        kind=OpKind.POINTWISE,
        inputs=(pre,),
        params=(),
        macs=0,
        flops=epilogue_flops,
        read_bytes=pre.nbytes,
        attrs=(),
        weight_stats=None,
        weight_bits=None,
        param_sources=(),
    )


def _gemms(op: Op) -> tuple[tuple[int, int, int, int], ...]:
    value = op.attr("gemms", ())
    return value if isinstance(value, tuple) else ()

"""An ONNX graph with every tensor's shape known and its load-time constants identified.

Shapes come from onnx's own shape inference (``onnx.shape_inference``), run once the graph's
inputs have fixed shapes (``--input-shape`` or ``--batch`` for dynamic dimensions). Weights
are handed to inference as typed inputs rather than data, so it never copies them; when an
op's output shape depends on values computed from constants (a ``Reshape`` target built from
``Shape -> Gather -> Concat``) that onnx's data propagation could not follow, hwsim folds those
values itself (``onnx_fold``) and infers again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

from ..errors import InputShapeError, ModelLoadError
from ..ops import TensorSpec
from .onnx_fold import fold
from .onnx_load import LoadedOnnx, tensor_value
from .onnx_types import dtype_name
from .shapes import InputShapes

# Initializers up to this many elements go to shape inference as data (it may need their
# values: a Reshape's target); larger ones (weights) go as typed inputs, never copied.
_SMALL_CONSTANT = 4096
_INFERENCE_ROUNDS = 4
_NON_DETERMINISTIC = frozenset(
    {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial"}
)


def attributes(node: onnx.NodeProto) -> dict[str, Any]:
    """A node's attributes as Python values (strings decoded; tensors left as protos)."""
    out: dict[str, Any] = {}
    for attr in node.attribute:
        value = helper.get_attribute_value(attr)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif isinstance(value, list) and value and isinstance(value[0], bytes):
            value = [v.decode("utf-8", "replace") for v in value]
        out[attr.name] = value
    return out


def has_subgraph(node: onnx.NodeProto) -> bool:
    """Control flow (If, Loop, Scan): its work lives in a body graph hwsim does not price."""
    graph_types = (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
    return any(a.type in graph_types for a in node.attribute)


class OnnxConstants:
    """Which tensors are load-time constants, and their values on demand (evaluated once).

    Initializers and ``Constant`` outputs are constants; so is the ``Shape`` of a tensor whose
    shape is known, and any deterministic op whose inputs are all constants.
    """

    def __init__(
        self,
        nodes: Sequence[onnx.NodeProto],
        initializers: Mapping[str, onnx.TensorProto],
        loaded: LoadedOnnx,
        shapes: Mapping[str, TensorSpec],
    ) -> None:
        self._init = initializers
        self._external = loaded.external
        self._shapes = shapes
        self._producer: dict[str, tuple[onnx.NodeProto, int]] = {}
        self._values: dict[str, np.ndarray | None] = {}
        known = set(initializers)
        for node in nodes:
            if self._folds(node, known):
                for i, out in enumerate(node.output):
                    if out:
                        known.add(out)
                        self._producer[out] = (node, i)
        self._names = known

    def _folds(self, node: onnx.NodeProto, known: set[str]) -> bool:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            return True
        if node.op_type in _NON_DETERMINISTIC or has_subgraph(node):
            return False
        if node.op_type in ("Shape", "Size") and node.input and node.input[0] in self._shapes:
            return True
        inputs = [i for i in node.input if i]
        return bool(inputs) and all(i in known for i in inputs)

    def __contains__(self, name: str) -> bool:
        return name in self._names

    def producer(self, name: str) -> onnx.NodeProto | None:
        entry = self._producer.get(name)
        return entry[0] if entry else None

    def value(self, name: str) -> np.ndarray | None:
        """The constant's values, or None when hwsim cannot evaluate it (it stays a constant)."""
        if name not in self._values:
            self._values[name] = None  # guards against cycles in a malformed graph
            try:
                self._values[name] = self._evaluate(name)
            except RecursionError:
                self._values[name] = None
        return self._values[name]

    def _evaluate(self, name: str) -> np.ndarray | None:
        if name in self._init:
            return tensor_value(self._init[name], self._external)
        entry = self._producer.get(name)
        if entry is None:
            return None
        node, index = entry
        if node.op_type == "Constant":
            return _constant_value(node, self._external)
        if node.op_type in ("Shape", "Size"):
            spec = self._shapes[node.input[0]]
            inputs: list[np.ndarray | None] = [np.zeros(spec.shape, dtype=np.uint8)]
            if spec.numel > 1 << 26:
                return None
        else:
            inputs = [self.value(i) if i else None for i in node.input]
        attrs = {
            k: tensor_value(v, self._external) if isinstance(v, onnx.TensorProto) else v
            for k, v in attributes(node).items()
        }
        out = fold(node.op_type, inputs, attrs)
        return out[index] if out is not None and index < len(out) else None


def _constant_value(node: onnx.NodeProto, external: Mapping[str, np.ndarray]) -> np.ndarray | None:
    for attr in node.attribute:
        value = helper.get_attribute_value(attr)
        if attr.name == "value":
            return tensor_value(value, external)
        if attr.name in ("value_float", "value_floats"):
            return np.asarray(value, dtype=np.float32)
        if attr.name in ("value_int", "value_ints"):
            return np.asarray(value, dtype=np.int64)
    return None


@dataclass
class OnnxGraph:
    """The model's nodes with what the op builder needs to know about each tensor."""

    source: str
    nodes: list[onnx.NodeProto]
    shapes: dict[str, TensorSpec]  # tensors whose shape is fully known
    dtypes: dict[str, str]  # every tensor whose element type is known
    constants: OnnxConstants
    inputs: tuple[TensorSpec, ...]  # the model's data inputs, in order
    input_names: tuple[str, ...]
    outputs: frozenset[str]  # the model's output tensors
    consumers: dict[str, list[int]] = field(default_factory=dict)  # tensor -> node indices
    producers: dict[str, int] = field(default_factory=dict)  # tensor -> node index

    def __post_init__(self) -> None:
        self.recount()

    def recount(self) -> None:
        """Rebuild the reader and writer indices after ``nodes`` changed."""
        self.consumers, self.producers = {}, {}
        for i, node in enumerate(self.nodes):
            for name in node.input:
                if name:
                    self.consumers.setdefault(name, []).append(i)
            for name in node.output:
                if name:
                    self.producers[name] = i

    def spec(self, name: str) -> TensorSpec | None:
        """A tensor's shape and dtype; a constant hwsim evaluated knows its own."""
        spec = self.shapes.get(name)
        if spec is None and name in self.constants:
            value = self.constants.value(name)
            if value is not None:
                spec = TensorSpec(tuple(value.shape), self.dtypes.get(name, value.dtype.name))
                self.shapes[name] = spec
        return spec


def _dims(value_info: onnx.ValueInfoProto) -> list[int | str | None] | None:
    tensor = value_info.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    out: list[int | str | None] = []
    for dim in tensor.shape.dim:
        if dim.HasField("dim_value"):
            out.append(int(dim.dim_value))
        else:
            out.append(dim.dim_param or None)
    return out


def _fixed_inputs(
    graph: onnx.GraphProto, path: Path, batch: int | None, overrides: InputShapes
) -> list[tuple[str, tuple[int, ...], int]]:
    """(name, shape, element type) of each data input, dynamic dimensions resolved."""
    init = {t.name for t in graph.initializer}
    real = [vi for vi in graph.input if vi.name not in init]
    if len(overrides) > len(real):
        raise InputShapeError(
            f"{path}: {len(overrides)} --input-shape values for {len(real)} model input(s) "
            f"({', '.join(vi.name for vi in real)})"
        )
    fixed = []
    for i, vi in enumerate(real):
        elem = vi.type.tensor_type.elem_type
        dims = _dims(vi)
        if i < len(overrides):
            shape, dtype = overrides[i]
            if dims is not None and len(dims) != len(shape):
                raise InputShapeError(
                    f"{path}: input '{vi.name}' has {len(dims)} dimensions, --input-shape "
                    f"gives {len(shape)} ({','.join(map(str, shape))})"
                )
            if dtype is not None and dtype != dtype_name(elem):
                raise InputShapeError(
                    f"{path}: input '{vi.name}' is {dtype_name(elem)} in the model, not {dtype}"
                )
            dims = list(shape)
        if dims is None:
            raise InputShapeError(
                f"{path}: input '{vi.name}' has no recorded shape; pass --input-shape"
            )
        if batch is not None and dims:
            dims[0] = batch
        unknown = [str(d) if d is not None else "?" for d in dims if not isinstance(d, int)]
        if unknown:
            example = ",".join(str(d) if isinstance(d, int) else "N" for d in dims)
            raise InputShapeError(
                f"{path}: input '{vi.name}' has dynamic dimension(s) {', '.join(unknown)}; pass "
                f"--input-shape {example} (N: the size you want; inputs separated by ';') "
                "or --batch N for the first"
            )
        fixed.append((vi.name, tuple(int(d) for d in dims if isinstance(d, int)), elem))
    return fixed


def _value_info(name: str, elem: int, shape: Sequence[int]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, list(shape))


def _infer(
    model: onnx.ModelProto,
    nodes: Sequence[onnx.NodeProto],
    inputs: Sequence[tuple[str, tuple[int, ...], int]],
    initializers: Iterable[onnx.TensorProto],
    provided: Mapping[str, np.ndarray],
    path: Path,
) -> onnx.ModelProto:
    """Shape inference on a copy of the graph that holds weights as typed inputs."""
    graph = helper.make_graph(
        [n for n in nodes if not all(o in provided for o in n.output if o)],
        model.graph.name or "g",
        [_value_info(name, elem, shape) for name, shape, elem in inputs],
        list(model.graph.output),
    )
    for tensor in initializers:
        if tensor.name in provided:
            continue
        small = int(np.prod(tensor.dims, dtype=np.float64)) <= _SMALL_CONSTANT
        if small and tensor.data_location != onnx.TensorProto.EXTERNAL:
            graph.initializer.append(tensor)
        else:
            graph.input.append(_value_info(tensor.name, tensor.data_type, tensor.dims))
    for name, value in provided.items():
        if value.size <= _SMALL_CONSTANT:
            graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        else:
            elem = helper.np_dtype_to_tensor_dtype(value.dtype)
            graph.input.append(_value_info(name, elem, value.shape))
    work = helper.make_model(graph, opset_imports=list(model.opset_import))
    work.ir_version = max(model.ir_version, 4)
    try:
        return shape_inference.infer_shapes(
            work, check_type=False, strict_mode=False, data_prop=True
        )
    except Exception as exc:  # onnx raises InferenceError, ValidationError, RuntimeError...
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputShapeError(f"{path}: shape inference failed: {first[:300]}") from None


def _collect(inferred: onnx.ModelProto) -> tuple[dict[str, TensorSpec], dict[str, str]]:
    shapes: dict[str, TensorSpec] = {}
    dtypes: dict[str, str] = {}
    g = inferred.graph
    for vi in [*g.input, *g.value_info, *g.output]:
        if not vi.type.HasField("tensor_type"):
            continue
        elem = vi.type.tensor_type.elem_type
        if elem:
            dtypes[vi.name] = dtype_name(elem)
        dims = _dims(vi)
        if elem and dims is not None and all(isinstance(d, int) and d >= 0 for d in dims):
            shape = tuple(int(d) for d in dims if isinstance(d, int))
            shapes[vi.name] = TensorSpec(shape, dtype_name(elem))
    for t in g.initializer:
        dtypes[t.name] = dtype_name(t.data_type)
        shapes[t.name] = TensorSpec(tuple(int(d) for d in t.dims), dtype_name(t.data_type))
    return shapes, dtypes


def read_graph(
    loaded: LoadedOnnx, path: Path, *, batch: int | None, input_shapes: InputShapes
) -> OnnxGraph:
    """Fix the inputs' shapes, infer every tensor's shape, and find the constants."""
    model = loaded.model
    nodes = list(_topological(model.graph.node, path))
    inputs = _fixed_inputs(model.graph, path, batch, input_shapes)
    initializers = {t.name: t for t in model.graph.initializer}
    provided: dict[str, np.ndarray] = {}
    for _ in range(_INFERENCE_ROUNDS):
        inferred = _infer(model, nodes, inputs, initializers.values(), provided, path)
        shapes, dtypes = _collect(inferred)
        for t in initializers.values():
            dtypes[t.name] = dtype_name(t.data_type)
            shapes[t.name] = TensorSpec(tuple(int(d) for d in t.dims), dtype_name(t.data_type))
        constants = OnnxConstants(nodes, initializers, loaded, shapes)
        wanted = _values_inference_lacks(nodes, shapes, constants, provided, initializers)
        if not wanted:
            break
        provided.update(wanted)
    return OnnxGraph(
        source=str(path),
        nodes=nodes,
        shapes=shapes,
        dtypes=dtypes,
        constants=constants,
        inputs=tuple(TensorSpec(shape, dtype_name(elem)) for _, shape, elem in inputs),
        input_names=tuple(name for name, _, _ in inputs),
        outputs=frozenset(o.name for o in model.graph.output),
    )


def _values_inference_lacks(
    nodes: Sequence[onnx.NodeProto],
    shapes: Mapping[str, TensorSpec],
    constants: OnnxConstants,
    provided: Mapping[str, np.ndarray],
    initializers: Mapping[str, onnx.TensorProto],
) -> dict[str, np.ndarray]:
    """Constant inputs of nodes whose outputs have no inferred shape, evaluated by hwsim, that
    inference has not been given yet (from single-output producers)."""
    wanted: dict[str, np.ndarray] = {}
    for node in nodes:
        if node.output and all(o in shapes for o in node.output if o):
            continue
        if node.output and node.output[0] in constants:
            continue  # a constant itself: its shape comes with its value
        for name in node.input:
            if not name or name in provided or name in initializers or name not in constants:
                continue
            producer = constants.producer(name)
            if producer is None or len([o for o in producer.output if o]) != 1:
                continue
            value = constants.value(name)
            if value is not None and value.dtype.kind in "iufb" and value.dtype.isbuiltin == 1:
                wanted[name] = value
    return wanted


def _topological(nodes: Sequence[onnx.NodeProto], path: Path) -> list[onnx.NodeProto]:
    """The nodes in an order where each runs after its inputs' producers (ONNX requires the
    file's order to be one; a file that breaks the rule is reordered, a cycle refused)."""
    produced = {o: i for i, n in enumerate(nodes) for o in n.output if o}
    if all(produced.get(x, -1) < i for i, n in enumerate(nodes) for x in n.input if x):
        return list(nodes)
    order: list[onnx.NodeProto] = []
    state = [0] * len(nodes)  # 0 new, 1 visiting, 2 done
    for start in range(len(nodes)):
        stack = [(start, False)]
        while stack:
            i, expanded = stack.pop()
            if expanded:
                state[i] = 2
                order.append(nodes[i])
                continue
            if state[i] == 2:
                continue
            if state[i] == 1:
                raise ModelLoadError(f"{path}: the ONNX graph has a cycle at '{nodes[i].name}'")
            state[i] = 1
            stack.append((i, True))
            for x in nodes[i].input:
                j = produced.get(x)
                if j is not None and state[j] != 2:
                    if state[j] == 1:
                        raise ModelLoadError(
                            f"{path}: the ONNX graph has a cycle at '{nodes[j].name}'"
                        )
                    stack.append((j, False))
    return order

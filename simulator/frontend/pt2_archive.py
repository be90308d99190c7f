"""Read a ``torch.export`` archive (``.pt2``) without running code from it.

``torch.export.load`` is not safe on a file from a stranger, in four ways this module closes:

- It unpickles the sample inputs with ``weights_only=True`` and, when that fails, retries with
  ``weights_only=False``; weights and constants marked ``use_pickle`` are always unpickled
  with ``weights_only=False``; opaque constants go through ``pickle.loads``. Any of these runs
  code. Here every pickle is read with ``weights_only=True``; what needs more is refused
  (weights, constants) or dropped (sample inputs, which hwsim can do without).
- A node's target is resolved by attribute lookup from the string in the file, so
  ``torch.serialization.os.system`` becomes a graph node that runs when the graph does. Here
  every target must be an ATen, prims or quantized-decomposed operator, a higher-order
  operator, or one of the symbolic-shape helpers, and never one with side effects outside the
  process (``aten.from_file`` maps and creates files).
- Symbolic shape expressions are parsed with ``sympy.sympify``, which evaluates Python. Here
  each expression must parse, with ``ast``, into calls of known sympy constructors on
  literals, and exponents stay small, so no expression can compute a huge number either.
- ``guards_code`` (Python source that ``ExportedProgram.module()`` executes) is dropped.

With ``--trust-pickle`` the user vouches for the file and ``torch.export.load`` is used as is.
The archive layout and the deserializer are torch's own (torch's private modules, pinned by
the Makefile); only the reading of untrusted parts is replaced.
"""

from __future__ import annotations

import ast
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch._export.serde import schema
from torch._export.serde.serialize import (
    ExportedProgramDeserializer,
    _dict_to_dataclass,
    deserialize_scalar_type,
    deserialize_size,
    deserialize_storage_offset,
    deserialize_stride,
)
from torch.export.pt2_archive import constants as layout

from ..errors import ModelLoadError

# Operator namespaces whose ops compute on tensors and nothing else.
_SAFE_NAMESPACES = frozenset({"aten", "prims", "quantized_decomposed", "higher_order"})
# Ops in those namespaces that reach outside the process.
_UNSAFE_OPS = frozenset({"from_file", "_print"})
# Python-level targets the serializer writes for symbolic-shape arithmetic.
_OPERATOR_TARGETS = frozenset(
    {"getitem", "eq", "ne", "le", "ge", "lt", "gt", "neg", "pos", "mul", "add", "sub"}
    | {"floordiv", "mod", "pow", "truediv", "and_", "or_", "lshift", "rshift"}
)
_TORCH_SYM_TARGETS = frozenset(
    {"sym_not", "sym_int", "sym_float", "sym_ite", "sym_max", "sym_min", "sym_sqrt", "_sym_sqrt"}
)
_MATH_TARGETS = frozenset({"trunc", "floor", "ceil", "sqrt"})

# sympy constructors ``srepr`` writes, and torch's own sympy functions (the deserializer's list).
_SYMPY_CALLS = frozenset(
    {"Symbol", "Integer", "Rational", "Float", "Add", "Mul", "Max", "Min", "Mod", "Abs"}
    | {"floor", "ceiling", "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "StrictLessThan"}
    | {"StrictGreaterThan", "LessThan", "GreaterThan", "Equality", "Unequality"}
    | {"And", "Or", "Not", "Piecewise", "ExprCondPair", "Tuple"}
    | {"FloorDiv", "ModularIndexing", "Where", "PythonMod", "CleanDiv", "CeilToInt"}
    | {"FloorToInt", "CeilDiv", "IsNonOverlappingAndDenseIndicator", "TruncToFloat"}
    | {"TruncToInt", "RoundToInt", "RoundDecimal", "ToFloat", "Identity", "IntTrueDiv"}
    | {"FloatTrueDiv"}
)
# Calls whose second argument is an exponent or a shift: a literal there must stay small, or
# sympy computes a number with billions of digits.
_POWERS = frozenset({"Pow", "PowByNatural", "FloatPow", "LShift", "RShift"})
_SYMPY_NAMES = frozenset({"true", "false", "oo", "zoo", "nan", "S", "True", "False", "None"})
_SYMBOL_NAME = re.compile(r"[a-z]{1,4}\d{1,6}")
_MAX_EXPONENT = 64
_MAX_LITERAL = 2**62
_MAX_EXPR_CHARS = 10_000


def load_pt2(path: Path, *, trust_pickle: bool) -> tuple[torch.export.ExportedProgram, Any]:
    """The program in ``path`` and its sample inputs (``(args, kwargs)`` or None)."""
    if trust_pickle:
        program = torch.export.load(str(path))
        return program, getattr(program, "example_inputs", None)
    try:
        reader = torch._C.PyTorchFileReader(str(path))
    except RuntimeError as exc:
        raise ModelLoadError(
            f"{path}: not a complete torch.export archive (truncated or corrupt: "
            f"{_first_line(exc)})"
        ) from None
    return _Archive(path, reader).load()


class _Archive:
    """One open archive; every read names the file and the record when it fails."""

    def __init__(self, path: Path, reader: Any) -> None:
        self.path = path
        self.reader = reader
        self.records = set(reader.get_all_records())

    def read(self, name: str) -> bytes:
        if name not in self.records:
            raise ModelLoadError(f"{self.path}: the archive has no '{name}' record")
        try:
            data: bytes = self.reader.get_record(name)
        except RuntimeError as exc:
            raise ModelLoadError(
                f"{self.path}: cannot read '{name}' (truncated or corrupt: {_first_line(exc)})"
            ) from None
        return data

    def json(self, name: str) -> Any:
        try:
            return json.loads(self.read(name).decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise ModelLoadError(f"{self.path}: '{name}' is not valid JSON ({exc})") from None

    def load(self) -> tuple[torch.export.ExportedProgram, Any]:
        fmt = self.read(layout.ARCHIVE_FORMAT_PATH).decode(errors="replace")
        version = self.read(layout.ARCHIVE_VERSION_PATH).decode(errors="replace")
        if fmt != layout.ARCHIVE_FORMAT_VALUE or version != layout.ARCHIVE_VERSION_VALUE:
            raise ModelLoadError(
                f"{self.path}: archive format '{fmt}' version '{version}' is not the one this "
                f"torch writes ({layout.ARCHIVE_FORMAT_VALUE} {layout.ARCHIVE_VERSION_VALUE}); "
                "re-save it with torch.export.save"
            )
        models = sorted(
            r[len(layout.MODELS_DIR) : -len(".json")]
            for r in self.records
            if r.startswith(layout.MODELS_DIR) and r.endswith(".json")
        )
        if not models:
            raise ModelLoadError(f"{self.path}: the archive holds no exported program")
        name = "model" if "model" in models else models[0]
        serialized = self.json(layout.MODELS_FILENAME_FORMAT.format(name))
        if not isinstance(serialized, dict):
            raise ModelLoadError(f"{self.path}: the exported program is not a JSON object")
        check_program(serialized, self.path)
        serialized["guards_code"] = []
        try:
            program_schema = _dict_to_dataclass(schema.ExportedProgram, serialized)
        except Exception as exc:  # malformed JSON of the right syntax: many error types
            raise ModelLoadError(
                f"{self.path}: the exported program does not match torch's schema "
                f"({type(exc).__name__}: {_first_line(exc)})"
            ) from None
        state_dict = self._payloads(
            layout.WEIGHTS_CONFIG_FILENAME_FORMAT.format(name), layout.WEIGHTS_DIR, "weight"
        )
        constants = self._payloads(
            layout.CONSTANTS_CONFIG_FILENAME_FORMAT.format(name), layout.CONSTANTS_DIR, "constant"
        )
        inputs = self._sample_inputs(layout.SAMPLE_INPUTS_FILENAME_FORMAT.format(name))
        try:
            program = ExportedProgramDeserializer().deserialize(
                program_schema, state_dict, constants, inputs
            )
        except ModelLoadError:
            raise
        except Exception as exc:  # the deserializer raises many error types on bad input
            raise ModelLoadError(
                f"{self.path}: corrupt torch.export archive ({type(exc).__name__}: "
                f"{_first_line(exc)})"
            ) from None
        return program, inputs

    def _payloads(self, config_name: str, directory: str, what: str) -> dict[str, Any]:
        """Weights or constants: raw tensor records as torch lays them out, pickled tensors
        through the weights-only unpickler, pickled Python objects refused."""
        if config_name not in self.records:
            if any(r.startswith(directory) and r.endswith(".pt") for r in self.records):
                raise ModelLoadError(
                    f"{self.path}: {what}s in torch's legacy pickled format; re-save the model "
                    "with torch.export.save from a current torch"
                )
            return {}
        try:
            config = _dict_to_dataclass(schema.PayloadConfig, self.json(config_name))
        except ModelLoadError:
            raise
        except Exception as exc:  # the right JSON syntax with the wrong fields
            raise ModelLoadError(
                f"{self.path}: '{config_name}' is malformed ({_first_line(exc)})"
            ) from None
        tensor_prefix = {
            "constant": layout.TENSOR_CONSTANT_FILENAME_PREFIX,
            "weight": layout.WEIGHT_FILENAME_PREFIX,
        }[what]
        out: dict[str, Any] = {}
        flat: dict[str, torch.Tensor] = {}
        for fqn, meta in config.config.items():
            record = f"{directory}{meta.path_name}"
            if not meta.path_name.startswith(tensor_prefix):
                raise ModelLoadError(
                    f"{self.path}: {what} '{fqn}' is a pickled Python object; loading it would "
                    "run code from the file. Pass --trust-pickle only if you trust its source"
                )
            if meta.use_pickle:
                tensor = self._pickled_tensor(record, what, fqn)
                if meta.is_param and not isinstance(tensor, torch.nn.Parameter):
                    tensor = torch.nn.Parameter(tensor, requires_grad=False)
                out[fqn] = tensor
                continue
            if meta.tensor_meta is None:
                raise ModelLoadError(f"{self.path}: {what} '{fqn}' has no tensor metadata")
            if meta.path_name not in flat:
                flat[meta.path_name] = self._flat_tensor(record, meta.tensor_meta)
            out[fqn] = self._view(flat[meta.path_name], meta, what, fqn)
        return out

    def _flat_tensor(self, record: str, meta: Any) -> torch.Tensor:
        """A 1-D tensor over a record's bytes, read as torch reads it. torch writes an empty
        record for a fake (weightless) tensor: that becomes a meta tensor, priced as dense
        weights, never a giant tensor of zeros allocated on a file's say-so."""
        if record not in self.records:
            raise ModelLoadError(f"{self.path}: the archive has no '{record}' record")
        dtype = deserialize_scalar_type(meta.dtype)
        element = torch._utils._element_size(dtype)
        nbytes = int(self.reader.get_record_size(record))
        if nbytes == 0:
            try:
                extent = _extent(meta)
            except (AttributeError, TypeError, ValueError):
                raise ModelLoadError(f"{self.path}: record '{record}' has no usable size") from None
            return torch.empty((extent,), dtype=dtype, device="meta")
        if nbytes % element:
            raise ModelLoadError(
                f"{self.path}: record '{record}' holds {nbytes} bytes, not a whole number of "
                f"{dtype} elements"
            )
        numel = nbytes // element
        storage = self.reader.get_storage_from_record(record, numel, dtype)
        tensor = torch.empty(0, dtype=dtype)
        tensor.set_(storage.untyped_storage(), 0, (numel,), (1,))
        return tensor

    def _view(self, flat: torch.Tensor, meta: Any, what: str, fqn: str) -> torch.Tensor:
        tensor_meta = meta.tensor_meta
        try:
            tensor = torch.as_strided(
                flat,
                deserialize_size(tensor_meta.sizes),
                deserialize_stride(tensor_meta.strides),
                deserialize_storage_offset(tensor_meta.storage_offset),
            )
        except (RuntimeError, ValueError, TypeError) as exc:
            raise ModelLoadError(
                f"{self.path}: {what} '{fqn}' does not fit its record ({_first_line(exc)})"
            ) from None
        if meta.is_param:
            return torch.nn.Parameter(tensor, requires_grad=tensor_meta.requires_grad)
        return tensor

    def _pickled_tensor(self, record: str, what: str, fqn: str) -> torch.Tensor:
        try:
            value = torch.load(io.BytesIO(self.read(record)), weights_only=True)
        except Exception:  # the weights-only unpickler refuses with many error types
            raise ModelLoadError(
                f"{self.path}: {what} '{fqn}' is pickled with Python classes; loading it would "
                "run code from the file. Pass --trust-pickle only if you trust its source"
            ) from None
        if not isinstance(value, torch.Tensor):
            raise ModelLoadError(f"{self.path}: {what} '{fqn}' is not a tensor")
        return value

    def _sample_inputs(self, record: str) -> Any:
        """Sample inputs are optional to hwsim (``--input-shape`` can stand in), so a pickle
        the weights-only unpickler refuses is dropped rather than run."""
        if record not in self.records:
            return None
        data = self.read(record)
        if not data:
            return None
        try:
            value = torch.load(io.BytesIO(data), weights_only=True)
        except Exception:  # refused or corrupt: either way, not something to run
            return None
        ok = (
            isinstance(value, tuple)
            and len(value) == 2
            and isinstance(value[0], tuple)
            and isinstance(value[1], dict)
        )
        return value if ok else None


def check_program(serialized: dict[str, Any], path: Path) -> None:
    """Refuse an exported program whose graph could run code: every node target must be a
    tensor operator, every symbolic expression plain sympy, every symbol name short."""
    for target in _strings_under(serialized, "target"):
        problem = _target_problem(target)
        if problem:
            raise ModelLoadError(f"{path}: the graph calls '{target[:80]}', {problem}")
    for expr in _strings_under(serialized, "expr_str"):
        problem = _expression_problem(expr)
        if problem:
            raise ModelLoadError(f"{path}: symbolic shape '{expr[:80]}' refused: {problem}")
    ranges = serialized.get("range_constraints") or {}
    if not isinstance(ranges, dict):
        raise ModelLoadError(f"{path}: range_constraints is not a mapping")
    for symbol in ranges:
        if not _SYMBOL_NAME.fullmatch(str(symbol)):
            raise ModelLoadError(f"{path}: symbol name '{str(symbol)[:40]}' is not a shape symbol")


def _strings_under(tree: Any, key: str) -> Iterator[str]:
    """Every string value stored under ``key`` anywhere in a JSON tree (iteratively: a tree
    nested deeper than Python's recursion limit must not crash the check)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                if k == key and isinstance(v, str):
                    yield v
                else:
                    stack.append(v)
        elif isinstance(node, list):
            stack.extend(node)


def _target_problem(target: str) -> str | None:
    """Why ``target`` may not be a graph node, or None when it is a safe operator."""
    parts = target.split(".")
    if parts[0] == "torch" and len(parts) >= 4 and parts[1] == "ops":
        namespace, op = parts[2], parts[3]
        if namespace not in _SAFE_NAMESPACES:
            return f"an operator of namespace '{namespace}' hwsim does not run from a file"
        if op in _UNSAFE_OPS:
            return "an operator with effects outside the model (it reads or writes files)"
        return None
    if parts[0] == "_operator" and len(parts) == 2 and parts[1] in _OPERATOR_TARGETS:
        return None
    if parts[0] == "torch" and len(parts) == 2 and parts[1] in _TORCH_SYM_TARGETS:
        return None
    if parts[0] == "math" and len(parts) == 2 and parts[1] in _MATH_TARGETS:
        return None
    return "which is not a tensor operator; running the graph would run it"


def _expression_problem(expr: str) -> str | None:
    """Why a serialized sympy expression could run code or hang, or None when it is safe."""
    if len(expr) > _MAX_EXPR_CHARS:
        return "too long"
    try:
        tree = ast.parse(expr, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return "not an expression"
    for node in ast.walk(tree):
        problem = _node_problem(node)
        if problem:
            return problem
    return None


def _node_problem(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in _SYMPY_CALLS and name not in _POWERS:
            return f"calls {ast.unparse(node.func)[:40]}"
        if name in _POWERS and not _small_literal(node.args[1:2]):
            return "an exponent or shift that is not a small integer"
        if name == "Symbol" and not (
            node.args
            and isinstance(node.args[0], ast.Constant)
            and _SYMBOL_NAME.fullmatch(str(node.args[0].value))
        ):
            return "a symbol that is not a shape symbol"
        return None
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Pow, ast.LShift, ast.RShift)):
        return None if _small_literal([node.right]) else "a large exponent"
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or value is None:
            return None
        if isinstance(value, int) and abs(value) <= _MAX_LITERAL:
            return None
        if isinstance(value, float):
            return None
        if isinstance(value, str) and (_SYMBOL_NAME.fullmatch(value) or _is_number(value)):
            return None
        return f"literal {str(value)[:20]!r}"
    if isinstance(node, ast.Name):
        return None if node.id in _SYMPY_CALLS | _POWERS | _SYMPY_NAMES else f"name {node.id}"
    allowed = (
        ast.Expression,
        ast.keyword,
        ast.Load,
        ast.BinOp,
        ast.UnaryOp,
        ast.Compare,
        ast.BoolOp,
        ast.operator,
        ast.unaryop,
        ast.cmpop,
        ast.boolop,
        ast.Tuple,
    )
    return None if isinstance(node, allowed) else f"syntax {type(node).__name__}"


def _small_literal(args: list[ast.expr]) -> bool:
    """An exponent that cannot blow up: a literal integer (possibly negated, possibly wrapped
    in ``Integer(...)``) no larger than 64."""
    if len(args) != 1:
        return False
    node = args[0]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Integer":
        node = node.args[0] if len(node.args) == 1 else node
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int)
        and abs(node.value) <= _MAX_EXPONENT
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return len(text) <= 40


def _extent(meta: Any) -> int:
    """Elements a strided tensor spans: the size of the storage it needs."""
    sizes = [int(d.as_int) for d in meta.sizes]
    strides = [int(d.as_int) for d in meta.strides]
    if any(s == 0 for s in sizes):
        return 0
    offset = int(meta.storage_offset.as_int)
    return offset + 1 + sum((n - 1) * st for n, st in zip(sizes, strides, strict=False))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:160] if text else type(exc).__name__

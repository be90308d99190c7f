"""ONNX element types as hwsim names them (torch's dtype names), and as numpy holds them."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper

from ..graph import RawTensor

# ONNX element type -> torch's name for it, which TensorSpec.dtype uses everywhere.
DTYPE_NAMES: dict[int, str] = {
    TensorProto.FLOAT: "float32",
    TensorProto.DOUBLE: "float64",
    TensorProto.FLOAT16: "float16",
    TensorProto.BFLOAT16: "bfloat16",
    TensorProto.FLOAT8E4M3FN: "float8_e4m3fn",
    TensorProto.FLOAT8E5M2: "float8_e5m2",
    TensorProto.INT64: "int64",
    TensorProto.INT32: "int32",
    TensorProto.INT16: "int16",
    TensorProto.INT8: "int8",
    TensorProto.INT4: "int4",
    TensorProto.UINT64: "uint64",
    TensorProto.UINT32: "uint32",
    TensorProto.UINT16: "uint16",
    TensorProto.UINT8: "uint8",
    TensorProto.UINT4: "uint4",
    TensorProto.BOOL: "bool",
}


def dtype_name(elem_type: int) -> str:
    return DTYPE_NAMES.get(elem_type, f"onnx_type_{elem_type}")


def numpy_dtype(elem_type: int) -> np.dtype:
    return np.dtype(helper.tensor_dtype_to_np_dtype(elem_type))


def integer_bits(name: str) -> int | None:
    """Storage bits of an integer dtype name (int8 -> 8, uint4 -> 4), None for floats."""
    digits = name.removeprefix("u").removeprefix("int")
    return int(digits) if name.startswith(("int", "uint")) and digits.isdigit() else None


def raw_tensor(value: np.ndarray) -> RawTensor:
    """A weight value as hwsim holds it: standard numpy dtypes as they are, bfloat16 as its bit
    patterns, and the narrow types numpy lacks (int4, float8) widened to float32."""
    name = value.dtype.name
    if name == "bfloat16":
        return RawTensor(value.view(np.uint16), "bfloat16")
    if value.dtype.kind in "fiub" and value.dtype.isbuiltin == 1:
        return RawTensor(value, "bool" if value.dtype.kind == "b" else name)
    return RawTensor(value.astype(np.float32), "float32")

"""Number formats of a served model: how its linear layers are quantized, how its KV cache is
stored.

The graph carries the formats the way the frontend records a compressed model, so the cost
models price them exactly as they price a traced one: fp8 as fp8 dtypes; integer formats as
fp16 tensors with ``Op.weight_bits`` (and ``act_bits``) giving the stored width, which the
cost models scale bytes by and pick the integer precision from. Embeddings, norms, the router
and the lm_head stay in the activation format, as TensorRT-LLM's and vLLM's quantization
recipes keep them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ops import DTYPE_BITS
from .config import LlmError


@dataclass(frozen=True)
class Quant:
    """How linear layers are stored and computed."""

    name: str
    act_dtype: str  # activations between kernels, norms, embeddings, lm_head
    weight_dtype: str  # dtype of the linear weights' TensorSpec
    gemm_input_dtype: str  # dtype a linear layer reads its activation in
    weight_bits: int | None = None  # stored integer width (None: the dtype's own)
    act_bits: int | None = None  # integer (or 16 = fp16) width of the linear layers' inputs
    note: str = ""

    def stored_bits(self) -> int:
        """Bits per stored linear weight."""
        return self.weight_bits or DTYPE_BITS[self.weight_dtype]


QUANTS: dict[str, Quant] = {
    "fp16": Quant("fp16", "float16", "float16", "float16"),
    "bf16": Quant("bf16", "bfloat16", "bfloat16", "bfloat16"),
    "fp8": Quant(
        "fp8",
        "float16",
        "float8_e4m3fn",
        "float8_e4m3fn",
        note="FP8 (e4m3) weights and activations on the fp8 tensor cores",
    ),
    "int8": Quant(
        "int8",
        "float16",
        "float16",
        "float16",
        weight_bits=8,
        act_bits=8,
        note="W8A8 (SmoothQuant-style) on the int8 tensor cores",
    ),
    "int4": Quant(
        "int4",
        "float16",
        "float16",
        "float16",
        weight_bits=4,
        act_bits=4,
        note="W4A4 integer; hardware without int4 math runs it at its default precision",
    ),
    "w4a16": Quant(
        "w4a16",
        "float16",
        "float16",
        "float16",
        weight_bits=4,
        act_bits=16,
        note="4-bit weights dequantized to fp16 in the kernel (AWQ/GPTQ-style)",
    ),
}

# KV-cache formats: the dtype the cache is stored in.
KV_DTYPES: dict[str, str] = {
    "fp16": "float16",
    "bf16": "bfloat16",
    "fp8": "float8_e4m3fn",
    "int8": "int8",
}


def quant_of(name: str) -> Quant:
    try:
        return QUANTS[name]
    except KeyError:
        raise LlmError(f"--quant '{name}': expected one of {', '.join(QUANTS)}") from None


def kv_dtype_of(name: str | None, quant: Quant) -> str:
    """The KV cache's dtype: as asked, else the activation format."""
    if name is None:
        return quant.act_dtype
    try:
        return KV_DTYPES[name]
    except KeyError:
        raise LlmError(f"--kv-dtype '{name}': expected one of {', '.join(KV_DTYPES)}") from None

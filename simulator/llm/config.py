"""Decoder-only language models described by their shapes, as a ``config.json`` states them.

An LLM's serving cost depends on its shapes alone (layers, widths, heads, experts), never on
its weight values, so a model is a small frozen value built from a built-in table or from a
Hugging Face ``config.json`` read as plain JSON: nothing is downloaded and no weights are read.

The built-in table copies the published ``config.json`` of each model; the URL is beside each
row. Fields that a config leaves implicit are fixed by the architecture's reference code in
``transformers`` (``modeling_llama.py``, ``modeling_qwen2.py``, ``modeling_gpt2.py``): Qwen2's
q/k/v projections carry a bias, GPT-2 uses LayerNorm, biases everywhere, learned positions and
an lm_head tied to the token embedding.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import HwsimError


class LlmError(HwsimError):
    """An LLM config, serving request or parallel layout that cannot be estimated."""


@dataclass(frozen=True)
class LlmConfig:
    """The shapes of a decoder-only transformer: everything its cost depends on."""

    name: str
    n_layers: int
    hidden: int
    n_heads: int
    n_kv_heads: int  # grouped-query attention: query heads share n_heads / n_kv_heads KV heads
    head_dim: int
    ffn_hidden: int  # intermediate width of the MLP (of each expert, for a mixture of experts)
    vocab: int
    max_positions: int
    norm: str = "rms"  # "rms" (RMSNorm, a weight) or "layer" (LayerNorm, weight and bias)
    mlp: str = "gated_silu"  # "gated_silu" (SwiGLU: gate, up, down) or "gelu" (fc, proj)
    qkv_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    tied_embeddings: bool = False  # the lm_head reuses the token embedding's weight
    learned_positions: bool = False  # a position-embedding table instead of rotary embeddings
    sliding_window: int | None = None  # attention sees at most this many past tokens
    n_experts: int = 0  # 0: a dense MLP; else a mixture of experts of this many
    experts_per_token: int = 0  # top-k experts each token is routed to
    source: str = ""  # where the numbers come from

    @property
    def is_moe(self) -> bool:
        return self.n_experts > 0

    @property
    def group_size(self) -> int:
        """Query heads per KV head (1: multi-head attention)."""
        return self.n_heads // self.n_kv_heads

    def kv_bytes_per_token(self, kv_bits: int) -> float:
        """Bytes one token adds to the KV cache of the whole model: a key and a value vector
        per KV head per layer."""
        return 2 * self.n_layers * self.n_kv_heads * self.head_dim * kv_bits / 8

    def attended(self, position: int) -> int:
        """Keys the query at 1-based ``position`` attends to (its window, if any)."""
        return min(position, self.sliding_window) if self.sliding_window else position

    def validate(self) -> LlmConfig:
        """Raise ``LlmError`` naming the first inconsistent field."""
        for name in ("n_layers", "hidden", "n_heads", "n_kv_heads", "head_dim", "ffn_hidden"):
            if getattr(self, name) < 1:
                raise LlmError(f"{self.source or self.name}: '{name}' must be a positive integer")
        if self.vocab < 1 or self.max_positions < 1:
            raise LlmError(f"{self.source or self.name}: vocab and max positions must be positive")
        if self.n_heads % self.n_kv_heads:
            raise LlmError(
                f"{self.source or self.name}: {self.n_heads} attention heads cannot be grouped "
                f"over {self.n_kv_heads} key/value heads"
            )
        if self.norm not in ("rms", "layer") or self.mlp not in ("gated_silu", "gelu"):
            raise LlmError(f"{self.source or self.name}: unknown norm '{self.norm}' or mlp")
        if self.is_moe and not 0 < self.experts_per_token <= self.n_experts:
            raise LlmError(
                f"{self.source or self.name}: experts per token must lie in 1..{self.n_experts}"
            )
        return self


def _hf(repo: str) -> str:
    return f"https://huggingface.co/{repo}/blob/main/config.json"


# Published config.json values. Llama 3's repositories are gated; their numbers were checked
# against public copies whose "_name_or_path" names the official repository.
BUILTIN_CONFIGS: dict[str, LlmConfig] = {
    "llama3_8b": LlmConfig(
        name="llama3_8b",
        n_layers=32,
        hidden=4096,
        n_heads=32,
        n_kv_heads=8,
        head_dim=128,
        ffn_hidden=14336,
        vocab=128256,
        max_positions=8192,
        source=_hf("meta-llama/Meta-Llama-3-8B"),
    ),
    "llama3_70b": LlmConfig(
        name="llama3_70b",
        n_layers=80,
        hidden=8192,
        n_heads=64,
        n_kv_heads=8,
        head_dim=128,
        ffn_hidden=28672,
        vocab=128256,
        max_positions=8192,
        source=_hf("meta-llama/Meta-Llama-3-70B"),
    ),
    "llama2_7b": LlmConfig(
        name="llama2_7b",
        n_layers=32,
        hidden=4096,
        n_heads=32,
        n_kv_heads=32,
        head_dim=128,
        ffn_hidden=11008,
        vocab=32000,
        max_positions=4096,
        source=_hf("meta-llama/Llama-2-7b-hf"),
    ),
    "llama2_70b": LlmConfig(
        name="llama2_70b",
        n_layers=80,
        hidden=8192,
        n_heads=64,
        n_kv_heads=8,
        head_dim=128,
        ffn_hidden=28672,
        vocab=32000,
        max_positions=4096,
        source=_hf("meta-llama/Llama-2-70b-hf"),
    ),
    "mistral_7b": LlmConfig(
        name="mistral_7b",
        n_layers=32,
        hidden=4096,
        n_heads=32,
        n_kv_heads=8,
        head_dim=128,
        ffn_hidden=14336,
        vocab=32000,
        max_positions=32768,
        sliding_window=4096,
        source=_hf("mistralai/Mistral-7B-v0.1"),
    ),
    "qwen2_7b": LlmConfig(
        name="qwen2_7b",
        n_layers=28,
        hidden=3584,
        n_heads=28,
        n_kv_heads=4,
        head_dim=128,
        ffn_hidden=18944,
        vocab=152064,
        max_positions=131072,
        qkv_bias=True,  # modeling_qwen2.py: q/k/v_proj have bias=True, o_proj bias=False
        source=_hf("Qwen/Qwen2-7B") + " (use_sliding_window: false)",
    ),
    "mixtral_8x7b": LlmConfig(
        name="mixtral_8x7b",
        n_layers=32,
        hidden=4096,
        n_heads=32,
        n_kv_heads=8,
        head_dim=128,
        ffn_hidden=14336,
        vocab=32000,
        max_positions=32768,
        n_experts=8,
        experts_per_token=2,
        source=_hf("mistralai/Mixtral-8x7B-v0.1"),
    ),
    "gpt2": LlmConfig(
        name="gpt2",
        n_layers=12,
        hidden=768,
        n_heads=12,
        n_kv_heads=12,
        head_dim=64,
        ffn_hidden=3072,  # n_inner null: 4 x n_embd (modeling_gpt2.py)
        vocab=50257,
        max_positions=1024,
        norm="layer",
        mlp="gelu",
        qkv_bias=True,
        o_bias=True,
        mlp_bias=True,
        tied_embeddings=True,
        learned_positions=True,
        source=_hf("openai-community/gpt2"),
    ),
}


def _field(data: Mapping[str, Any], key: str, origin: str, default: Any = None) -> Any:
    value = data.get(key, default)
    if value is None:
        raise LlmError(f"{origin}: field '{key}' is missing (needed for the model's shapes)")
    return value


def _int(data: Mapping[str, Any], key: str, origin: str, default: Any = None) -> int:
    value = _field(data, key, origin, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise LlmError(f"{origin}: field '{key}' must be a positive integer, got {value!r}")
    return value


def _llama_like(data: Mapping[str, Any], origin: str, name: str) -> LlmConfig:
    """Llama, Mistral, Qwen2 and Mixtral configs share their field names."""
    hidden = _int(data, "hidden_size", origin)
    heads = _int(data, "num_attention_heads", origin)
    model_type = data["model_type"]
    window = data.get("sliding_window")
    if model_type == "qwen2" and not data.get("use_sliding_window", False):
        window = None  # Qwen2 lists a window it does not use unless use_sliding_window is set
    experts = int(data.get("num_local_experts", 0) or 0)
    return LlmConfig(
        name=name,
        n_layers=_int(data, "num_hidden_layers", origin),
        hidden=hidden,
        n_heads=heads,
        n_kv_heads=_int(data, "num_key_value_heads", origin, heads),
        head_dim=_int(data, "head_dim", origin, hidden // heads),
        ffn_hidden=_int(data, "intermediate_size", origin),
        vocab=_int(data, "vocab_size", origin),
        max_positions=_int(data, "max_position_embeddings", origin),
        qkv_bias=bool(data.get("attention_bias", model_type == "qwen2")),
        o_bias=bool(data.get("attention_bias", False)),
        mlp_bias=bool(data.get("mlp_bias", False)),
        tied_embeddings=bool(data.get("tie_word_embeddings", False)),
        sliding_window=int(window) if window else None,
        n_experts=experts,
        experts_per_token=_int(data, "num_experts_per_tok", origin) if experts else 0,
        source=origin,
    )


def _gpt2(data: Mapping[str, Any], origin: str, name: str) -> LlmConfig:
    hidden = _int(data, "n_embd", origin)
    heads = _int(data, "n_head", origin)
    return LlmConfig(
        name=name,
        n_layers=_int(data, "n_layer", origin),
        hidden=hidden,
        n_heads=heads,
        n_kv_heads=heads,
        head_dim=hidden // heads,
        ffn_hidden=_int(data, "n_inner", origin, 4 * hidden),
        vocab=_int(data, "vocab_size", origin),
        max_positions=_int(data, "n_positions", origin),
        norm="layer",
        mlp="gelu",
        qkv_bias=True,
        o_bias=True,
        mlp_bias=True,
        tied_embeddings=bool(data.get("tie_word_embeddings", True)),
        learned_positions=True,
        source=origin,
    )


_READERS: dict[str, Callable[[Mapping[str, Any], str, str], LlmConfig]] = {
    "llama": _llama_like,
    "mistral": _llama_like,
    "qwen2": _llama_like,
    "mixtral": _llama_like,
    "gpt2": _gpt2,
}


def config_from_hf(data: Mapping[str, Any], origin: str, name: str = "") -> LlmConfig:
    """An ``LlmConfig`` from the parsed contents of a Hugging Face ``config.json``."""
    model_type = data.get("model_type")
    reader = _READERS.get(str(model_type))
    if reader is None:
        raise LlmError(
            f"{origin}: field 'model_type': '{model_type}' is not a supported decoder "
            f"(supported: {', '.join(sorted(_READERS))})"
        )
    return reader(data, origin, name or Path(origin).parent.name or str(model_type)).validate()


# A Hugging Face config.json is a few kB; the bound keeps a huge file from being read whole.
MAX_CONFIG_BYTES = 4 * 2**20


def _no_constant(name: str) -> Any:
    """NaN and Infinity are not JSON numbers (Python's reader accepts them by default)."""
    raise json.JSONDecodeError(f"{name} is not a JSON number", name, 0)


def load_config(model: str | Path) -> LlmConfig:
    """A built-in model name, or the path of a Hugging Face ``config.json``."""
    text = str(model)
    if text in BUILTIN_CONFIGS:
        return BUILTIN_CONFIGS[text]
    path = Path(text)
    try:
        is_file = path.is_file() and path.stat().st_size <= MAX_CONFIG_BYTES
    except OSError as exc:  # a name too long, a path the OS refuses to look up
        raise LlmError(f"{text[:80]}: not a usable path ({exc.strerror})") from None
    if path.is_file() and not is_file:
        raise LlmError(f"{path}: larger than a config.json ({MAX_CONFIG_BYTES // 2**20} MiB)")
    if not is_file:
        raise LlmError(
            f"unknown model '{text}': not a config.json file, and not a built-in model "
            f"({', '.join(sorted(BUILTIN_CONFIGS))})"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_constant)
    except (OSError, UnicodeDecodeError) as exc:
        raise LlmError(f"{path}: cannot read the config ({exc})") from None
    except json.JSONDecodeError as exc:
        raise LlmError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except RecursionError:
        raise LlmError(f"{path}: not a config.json (nested too deeply)") from None
    if not isinstance(data, dict):
        raise LlmError(f"{path}: a config.json must hold a JSON object")
    return config_from_hf(data, str(path))

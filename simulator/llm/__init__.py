"""LLM serving estimates: prefill, decode with a KV cache, batching, quantization, tensor
parallelism, memory. See ``serving.py`` and docs/llm.md."""

from __future__ import annotations

from .config import BUILTIN_CONFIGS, LlmConfig, LlmError, config_from_hf, load_config
from .parallel import Interconnect
from .serving import PhaseCost, ServingEstimate, ServingRequest, serve

__all__ = [
    "BUILTIN_CONFIGS",
    "Interconnect",
    "LlmConfig",
    "LlmError",
    "PhaseCost",
    "ServingEstimate",
    "ServingRequest",
    "config_from_hf",
    "load_config",
    "serve",
]

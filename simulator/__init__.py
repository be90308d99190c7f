"""hwsim: how fast, and at what energy, a (compressed) PyTorch model runs on hardware X.

Trace once, estimate on many profiles::

    import hwsim
    graph = hwsim.trace("resnet50")            # or a .pt2 / .onnx path, an nn.Module, ...
    for hw in ("cpu_x86_avx2", "gpu_a100", "tpu_edge"):
        est = hwsim.estimate(graph, hw)
        print(hw, est.latency_s, est.energy_j)

The names below are imported on first use (PEP 562): ``import hwsim`` itself costs almost
nothing, so ``hwsim --help`` and ``hwsim profiles`` never pay for torch or pandas.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from .lazy import lazy_exports

if TYPE_CHECKING:
    from .cost import Bound, OpCost
    from .costmodels import PricingContext, register_cost
    from .errors import (
        HwsimError,
        InputShapeError,
        ModelLoadError,
        ProfileError,
        TraceError,
        WorkloadError,
    )
    from .estimate import Estimate, estimate, estimate_many
    from .frontend.aten_table import register_aten_op
    from .frontend.onnx_table import register_onnx_op
    from .frontend.trace import trace
    from .graph import OpGraph
    from .hardware import Profile
    from .nas import Predictor
    from .ops import Op, OpKind, TensorSpec, WeightStats
    from .profile import load_profile, preset_names

# Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    "Bound": ".cost",
    "OpCost": ".cost",
    "PricingContext": ".costmodels",
    "register_cost": ".costmodels",
    **dict.fromkeys(
        (
            "HwsimError",
            "InputShapeError",
            "ModelLoadError",
            "ProfileError",
            "TraceError",
            "WorkloadError",
        ),
        ".errors",
    ),
    "Estimate": ".estimate",
    "estimate": ".estimate",
    "estimate_many": ".estimate",
    "register_aten_op": ".frontend.aten_table",
    "register_onnx_op": ".frontend.onnx_table",
    "trace": ".frontend.trace",
    "OpGraph": ".graph",
    **dict.fromkeys(("Op", "OpKind", "TensorSpec", "WeightStats"), ".ops"),
    "Profile": ".hardware",
    "Predictor": ".nas",
    **dict.fromkeys(("load_profile", "preset_names"), ".profile"),
}

__all__ = [
    "Bound",
    "Estimate",
    "HwsimError",
    "InputShapeError",
    "ModelLoadError",
    "Op",
    "OpCost",
    "OpGraph",
    "OpKind",
    "Predictor",
    "PricingContext",
    "Profile",
    "ProfileError",
    "TensorSpec",
    "TraceError",
    "WeightStats",
    "WorkloadError",
    "estimate",
    "estimate_many",
    "load_profile",
    "preset_names",
    "register_aten_op",
    "register_cost",
    "register_onnx_op",
    "trace",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


class _Package(types.ModuleType):
    """``hwsim.estimate`` is a function and also the name of a submodule. Python binds a
    submodule to its package's attribute when it first loads, which would hide the function
    once anything imports ``hwsim.estimate`` (the module); this keeps the function."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _EXPORTS.get(name) == f".{name}":
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

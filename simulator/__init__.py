"""hwsim: how fast, and at what energy, a (compressed) PyTorch model runs on hardware X.

Trace once, estimate on many profiles::

    import hwsim
    graph = hwsim.trace("resnet50")            # or a .pt2 path, an nn.Module, ...
    for hw in ("cpu_x86_avx2", "gpu_a100", "tpu_edge"):
        est = hwsim.estimate(graph, hw)
        print(hw, est.latency_s, est.energy_j)
"""

from __future__ import annotations

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
from .frontend.trace import trace
from .graph import OpGraph
from .hardware import Profile
from .ops import Op, OpKind, TensorSpec, WeightStats
from .profile import load_profile, preset_names

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
    "trace",
]

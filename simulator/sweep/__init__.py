"""Architecture co-design sweeps: ``hwsim sweep SPEC.yaml -o OUTDIR`` (docs/codesign.md).

``spec`` reads the sweep spec, ``points`` names design points, ``evaluate`` prices them (what
the workers run), ``store`` streams results to disk, ``pareto`` marks feasible and
non-dominated rows, ``run`` drives it all on Dask, and ``report`` writes the HTML page and
the plots.
"""

from .report import write_report
from .run import SweepResult, build_payload, run_sweep
from .spec import SweepError, SweepSpec, load_spec

__all__ = [
    "SweepError",
    "SweepResult",
    "SweepSpec",
    "build_payload",
    "load_spec",
    "run_sweep",
    "write_report",
]

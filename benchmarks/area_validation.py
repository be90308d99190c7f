"""Fit the area model's two free factors and validate it against published die areas.

Fitting rows (each factor from one published figure):
- ``logic_overhead`` (placed-and-routed array over synthesised primitives): TPU v1's matrix
  unit is 24% of a die under 331 mm^2 (Jouppi et al., ISCA 2017, Fig. 2 and Table 2).
- systolic ``uncore_fraction``: the rest of the TPU v1 die (331 mm^2 in all).
- gpu ``uncore_fraction``: the A100 die, 826 mm^2 (NVIDIA A100 whitepaper), with the
  systolic-fitted logic overhead.

Held-out rows (nothing fitted on them):
- Eyeriss v1 (Chen et al., JSSC 2017): 65 nm, core 3.5 mm x 3.5 mm = 12.25 mm^2 (die 4 x 4 mm
  with pads).
- H100 SXM5 (NVIDIA H100 whitepaper): 814 mm^2 in TSMC 4N.
- TPU v1's buffers, as a component: the Unified Buffer (29%) and accumulators (6%) of the
  die are 35% x 331 = 116 mm^2 of SRAM; the model's SRAM comes from bitcell areas only.

Run: ``python benchmarks/area_validation.py`` (prints the fit, then a table for
docs/validation.md). The printed factors are the ones ``hwsim.area.CLASS_AREA`` holds.
"""

from __future__ import annotations

from hwsim.area import area_of
from hwsim.profile import load_profile

TPU_V1_DIE_MM2 = 331.0  # upper bound, Table 2 ("<331")
TPU_V1_MATRIX_UNIT = 0.24
TPU_V1_BUFFERS = 0.29 + 0.06
A100_DIE_MM2 = 826.0

HELD_OUT = (
    ("eyeriss", 12.25, "Eyeriss v1 core, 65 nm (JSSC 2017)"),
    ("gpu_h100", 814.0, "H100 SXM5 die, TSMC 4N (H100 whitepaper)"),
)


def fit() -> tuple[float, float, float]:
    """(logic_overhead, systolic uncore_fraction, gpu uncore_fraction)."""
    raw = area_of(
        load_profile("tpu_v1").with_params({"area.logic_overhead": 1.0, "area.uncore_fraction": 0})
    ).components
    logic = TPU_V1_MATRIX_UNIT * TPU_V1_DIE_MM2 / (raw["mac_array"] + raw["registers"])
    core = logic * (raw["mac_array"] + raw["registers"] + raw["vector"]) + raw["sram"]
    systolic_uncore = TPU_V1_DIE_MM2 / core - 1
    gpu = area_of(
        load_profile("gpu_a100").with_params(
            {"area.logic_overhead": logic, "area.uncore_fraction": 0}
        )
    ).total_mm2
    return logic, systolic_uncore, A100_DIE_MM2 / gpu - 1


def main() -> None:
    logic, systolic_uncore, gpu_uncore = fit()
    print(f"fit: logic_overhead {logic:.2f}, systolic uncore_fraction {systolic_uncore:.2f}, ")
    print(f"     gpu uncore_fraction {gpu_uncore:.2f}")
    print()
    print("| chip | role | published mm² | model mm² | error | model components (mm²) |")
    print("|---|---|---:|---:|---:|---|")
    rows = [
        ("tpu_v1", TPU_V1_DIE_MM2, "TPU v1 die, 28 nm (ISCA 2017)", "fit"),
        ("gpu_a100", A100_DIE_MM2, "A100 die, TSMC N7 (A100 whitepaper)", "fit"),
        *((name, mm2, what, "held out") for name, mm2, what in HELD_OUT),
    ]
    for name, published, what, role in rows:
        area = area_of(load_profile(name))
        parts = ", ".join(f"{k} {v:.1f}" for k, v in area.components.items())
        error = area.total_mm2 / published - 1
        print(
            f"| {what} | {role} | {published:.1f} | {area.total_mm2:.1f} | {error:+.0%} | {parts} |"
        )
    tpu = area_of(load_profile("tpu_v1")).components
    buffers = TPU_V1_BUFFERS * TPU_V1_DIE_MM2
    print(
        f"| TPU v1 Unified Buffer + accumulators (35% of the die) | held out | {buffers:.1f} | "
        f"{tpu['sram']:.1f} | {tpu['sram'] / buffers - 1:+.0%} | SRAM from bitcells only |"
    )


if __name__ == "__main__":
    main()

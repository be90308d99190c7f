"""hwsim's Edge TPU profiles against Coral's published latencies, and the two-row fit.

Source: Coral, "Edge TPU performance benchmarks" (coral.ai/docs/edgetpu/benchmarks), table 1,
"Time per inference, in milliseconds": the USB Accelerator (USB 3.0) on a desktop CPU, and the
Dev Board (Edge TPU on PCIe, quad Cortex-A53 host). TensorFlow Lite int8 models, C++ benchmark.

The issue's rule: figures may be fitted or tuned on two rows only, MobileNet v2 and
ResNet-50 V1; every other row is held out. ``--fit`` finds, on those two rows only,

- ``tpu_edge``: ``arch.depthwise_macs_per_cycle`` (MobileNet v2's 2.6 ms) and the host link's
  ``efficiency`` (ResNet-50's 49 ms);
- ``tpu_edge_devboard``: the link's ``efficiency`` (ResNet-50's 56 ms) and ``arch.host_link.
  invoke_s`` (MobileNet v2's 2.6 ms); the chip (and so its depthwise rate) is the USB one's.

and prints them; the profiles carry the values it printed. The default run prices every row
the repository has a model for on both profiles and writes ``benchmarks/results/
edgetpu_coral.csv``.

It also checks the Edge TPU's part alone against an independent measurement: LibrEdgeTPU
(github.com/ricardodeazambuja/LibrEdgeTPU, docs/ROBOTICS_STATUS.md, "Hardware Performance
Reference") timed cached calls of Coral's compiled models through its own USB driver, on a
host it does not name: the device's share of a call, without the TFLite ops the compiler
left on the CPU. Its driver takes 4.3 ms for MobileNet v2 where Coral's runtime takes 2.6 ms
(a fitted row), so each of its figures is scaled by 2.6 / 4.3 before it is compared with
hwsim's device part (every op not on the host, link transfers included); the scaled figures
check the chip model's ratios between models, not its absolute level. Written to
``benchmarks/results/edgetpu_libredgetpu.csv``.

Run: ``python benchmarks/edgetpu_coral.py [--fit]``.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from result_rows import write_rows

import hwsim

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "edgetpu_coral.csv"
FIT_ROWS = ("MobileNet v2 (224x224)", "ResNet-50 V1 (299x299)")


@dataclass(frozen=True)
class Row:
    """One row of Coral's table 1: the model, its USB and Dev Board latency (ms)."""

    model: str
    usb_ms: float | None  # None: the figure could not be read from the stored copy of the page
    devboard_ms: float | None
    workload: str | None  # the built-in that reproduces it (None: not built)
    shape: str | None = None  # --input-shape, where the built-in's default differs


CORAL_TABLE = (
    Row("Unet Mv2 (128x128)", 3.3, 5.7, "unet_mobilenet_v2"),
    Row("DeepLab V3 (513x513)", 52, 241, "deeplabv3_mobilenet_v2"),
    Row("DenseNet (224x224)", 20, 25, "densenet121"),
    Row("Inception v1 (224x224)", 3.4, 4.1, "inception_v1"),
    Row("Inception v4 (299x299)", 85, 102, "inception_v4"),
    Row("Inception-ResNet V2 (299x299)", 57, 69, "inception_resnet_v2"),
    Row("MobileNet v1 (224x224)", 2.4, 2.4, "mobilenet_v1:1.0_224"),
    Row("MobileNet v2 (224x224)", 2.6, 2.6, "mobilenet_v2"),
    Row("MobileNet v1 SSD (224x224)", 6.5, 11, "ssd_mobilenet_v1"),
    Row("MobileNet v2 SSD (224x224)", 7.2, 14, "ssd_mobilenet_v2"),
    Row("ResNet-50 V1 (299x299)", 49, 56, "resnet50_v1_299"),
    Row("ResNet-50 V2 (299x299)", 50, 59, "resnet50_v2_299"),
    Row("ResNet-152 V2 (299x299)", 128, 151, "resnet152_v2_299"),
    Row("SqueezeNet (224x224)", 2.1, 2, "squeezenet"),
    Row("VGG16 (224x224)", 296, 343, "vgg16"),
    Row("VGG19 (224x224)", 308, 357, "vgg19"),
    Row("EfficientNet-EdgeTpu-S", 5.1, 5.5, "efficientnet_edgetpu_s"),
    Row("EfficientNet-EdgeTpu-M", 8.7, 10.6, "efficientnet_edgetpu_m"),
    Row("EfficientNet-EdgeTpu-L", None, None, "efficientnet_edgetpu_l"),
)

# LibrEdgeTPU's cached-call latencies (ms, USB) of Coral's compiled models, by Coral's label.
LIBREDGETPU_MS = {
    "MobileNet v2 (224x224)": 4.3,
    "MobileNet v1 (224x224)": 4.0,
    "Inception v1 (224x224)": 5.4,
    "EfficientNet-EdgeTpu-S": 8.6,
    "MobileNet v1 SSD (224x224)": 10.1,
    "DeepLab V3 (513x513)": 26.3,
}
LIBREDGETPU_SCALE_ROW = "MobileNet v2 (224x224)"  # a fitted row: Coral's 2.6 ms over its 4.3
LIBREDGETPU_RESULTS = ROOT / "benchmarks" / "results" / "edgetpu_libredgetpu.csv"

_GRAPHS: dict[str, hwsim.OpGraph] = {}


def graph(row: Row) -> hwsim.OpGraph:
    assert row.workload is not None
    if row.workload not in _GRAPHS:
        print(f"tracing {row.workload} ...", file=sys.stderr, flush=True)
        _GRAPHS[row.workload] = hwsim.trace(row.workload, input_shapes=row.shape)
    return _GRAPHS[row.workload]


def latency_ms(row: Row, profile: hwsim.Profile) -> float:
    return hwsim.estimate(graph(row), profile).latency_s * 1e3


def _solve(f: Callable[[float], float], target: float, lo: float, hi: float) -> float:
    """The x in [lo, hi] (log scale) where the monotone f(x) meets target."""
    f_lo = f(lo)
    for _ in range(60):
        mid = math.sqrt(lo * hi)
        if (f(mid) > target) == (f_lo > target):
            lo, f_lo = mid, f(mid)
        else:
            hi = mid
    return math.sqrt(lo * hi)


def _fit(
    row: Row, published: float | None, profile: hwsim.Profile, key: str, lo: float, hi: float
) -> hwsim.Profile:
    """``profile`` with ``key`` set so that ``row`` takes its ``published`` latency."""
    value = _solve(
        lambda x: latency_ms(row, profile.with_params({key: x})), float(published or 0), lo, hi
    )
    print(f"  {profile.name}: {key} = {value:.6g} ({row.model})", flush=True)
    return profile.with_params({key: value})


def fit() -> None:
    rows = {r.model: r for r in CORAL_TABLE}
    mn2, rn50 = rows[FIT_ROWS[0]], rows[FIT_ROWS[1]]
    usb = hwsim.load_profile("tpu_edge")
    for _ in range(3):  # the two figures barely interact: MobileNet v2 streams nothing
        usb = _fit(rn50, rn50.usb_ms, usb, "memory.host.efficiency", 0.2, 1.0)
        usb = _fit(mn2, mn2.usb_ms, usb, "arch.depthwise_macs_per_cycle", 1.0, 4096.0)
    rate = usb.arch.depthwise_macs_per_cycle  # type: ignore[attr-defined]
    dev = hwsim.load_profile("tpu_edge_devboard").with_params(
        {"arch.depthwise_macs_per_cycle": rate}
    )
    for _ in range(3):
        dev = _fit(rn50, rn50.devboard_ms, dev, "memory.host.efficiency", 0.2, 1.0)
        dev = _fit(mn2, mn2.devboard_ms, dev, "arch.host_link.invoke_s", 1e-6, 2e-3)


def compare() -> list[dict[str, object]]:
    profiles = {
        "usb": hwsim.load_profile("tpu_edge"),
        "devboard": hwsim.load_profile("tpu_edge_devboard"),
    }
    out: list[dict[str, object]] = []
    for row in CORAL_TABLE:
        record: dict[str, object] = {
            "model": row.model,
            "workload": row.workload or "",
            "role": "fitted" if row.model in FIT_ROWS else "held out",
        }
        for key, profile in profiles.items():
            published = row.usb_ms if key == "usb" else row.devboard_ms
            record[f"{key}_published_ms"] = "" if published is None else published
            if row.workload is None:
                record[f"{key}_hwsim_ms"] = ""
                record[f"{key}_ratio"] = ""
                continue
            est = hwsim.estimate(graph(row), profile)
            ms = est.latency_s * 1e3
            record[f"{key}_hwsim_ms"] = round(ms, 3)
            record[f"{key}_ratio"] = "" if published is None else round(ms / published, 3)
        record["usb_notes"] = ""
        if row.workload is not None:
            plan = hwsim.estimate(graph(row), profiles["usb"]).graph_cost
            record["usb_notes"] = " | ".join(plan.notes) if plan else ""
        out.append(record)
        print(
            f"{row.model:30s} {record['role']:9s} USB {record['usb_published_ms']!s:>6s} -> "
            f"{record['usb_hwsim_ms']!s:>8s} ({record['usb_ratio']!s:>5s}x)   Dev Board "
            f"{record['devboard_published_ms']!s:>6s} -> {record['devboard_hwsim_ms']!s:>8s} "
            f"({record['devboard_ratio']!s:>5s}x)",
            flush=True,
        )
    return out


def device_part_ms(row: Row, profile: hwsim.Profile) -> float:
    """hwsim's time for the ops the plan keeps on the Edge TPU (link transfers included)."""
    est = hwsim.estimate(graph(row), profile)
    assert est.graph_cost is not None and est.graph_cost.layer_details is not None
    details = est.graph_cost.layer_details
    return 1e3 * sum(
        cost.latency_s
        for op, cost in est.costs
        if cost is not None and details[op.id]["device"] != "cpu"
    )


def compare_device_parts() -> list[dict[str, object]]:
    rows = {r.model: r for r in CORAL_TABLE}
    usb = hwsim.load_profile("tpu_edge")
    ref = rows[LIBREDGETPU_SCALE_ROW]
    scale = float(ref.usb_ms or 0) / LIBREDGETPU_MS[LIBREDGETPU_SCALE_ROW]
    out: list[dict[str, object]] = []
    print(f"Edge TPU part against LibrEdgeTPU's cached calls x {scale:.3f}:")
    for model, measured in LIBREDGETPU_MS.items():
        hw = device_part_ms(rows[model], usb)
        scaled = measured * scale
        out.append(
            {
                "model": model,
                "libredgetpu_ms": measured,
                "scaled_ms": round(scaled, 3),
                "hwsim_device_ms": round(hw, 3),
                "ratio": round(hw / scaled, 3),
                "role": "scale" if model == LIBREDGETPU_SCALE_ROW else "check",
            }
        )
        ratio = hw / scaled
        print(f"  {model:30s} {measured:5.1f} -> {scaled:6.2f} ms; hwsim {hw:6.2f} ({ratio:.2f}x)")
    return out


def _write(path: Path, rows: list[dict[str, object]]) -> None:
    write_rows(path, rows)
    print(f"wrote {path.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", action="store_true", help="fit on the two allowed rows only")
    args = parser.parse_args()
    if args.fit:
        fit()
        return
    _write(RESULTS, compare())
    _write(LIBREDGETPU_RESULTS, compare_device_parts())


if __name__ == "__main__":
    main()

"""Regenerate the pictures in docs/pictures.md from hwsim's own plots.

ResNet-18 at batch 1: its timeline on the Edge-TPU-like array (``tpu_edge``), where weights
that do not fit the 8 MB SRAM stream over the host link, and its ops on the A100's roofline;
MobileNetV2's per-layer latency on the same array.

Run: ``python analysis/docs_pictures.py`` (writes docs/img/*.png; a chrome-trace JSON of the
timeline goes to analysis/results/ for opening in https://ui.perfetto.dev).
"""

from __future__ import annotations

from pathlib import Path

import hwsim
from hwsim.plots import save_plot
from hwsim.trace_events import to_chrome_trace

ROOT = Path(__file__).resolve().parents[1]
IMG = ROOT / "docs" / "img"
RESULTS = ROOT / "analysis" / "results"


def main() -> None:
    resnet = hwsim.trace("resnet18")
    edge = hwsim.estimate(resnet, "tpu_edge")
    save_plot(edge, "timeline", IMG / "timeline_resnet18_tpu_edge.png")
    (RESULTS / "resnet18_tpu_edge.trace.json").write_text(to_chrome_trace([edge]))
    save_plot(
        hwsim.estimate(resnet, "gpu_a100"), "roofline", IMG / "roofline_resnet18_gpu_a100.png"
    )
    mobilenet = hwsim.estimate(hwsim.trace("mobilenet_v2"), "tpu_edge")
    save_plot(mobilenet, "layers", IMG / "layers_mobilenet_v2_tpu_edge.png", top=30)
    for path in sorted(IMG.glob("*_resnet18_*.png")) + sorted(IMG.glob("layers_*.png")):
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

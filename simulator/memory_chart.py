"""The lifetime chart of a schedule: one bar per tensor over the steps it is alive, at the
offset a greedy static planner gives it, with the SRAM capacity drawn across.

Read it like a runtime's memory plan: the x axis is the schedule (step k is the k-th kernel
to run), the y axis addresses in the activation arena. Tensors alive at the peak are drawn in
a warm colour; the step where memory peaks is marked. A bar above the SRAM line is a tensor
that does not fit. Built on ``matplotlib.figure.Figure`` directly: no pyplot, no global state.
"""

from __future__ import annotations

import io
from pathlib import Path

from matplotlib.backend_bases import FigureCanvasBase
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from .errors import OutputError
from .memory import MemoryPlan
from .outfile import check_writable, write_output

KIB = 1024.0
COLOURS = {"input": "#4c9f70", "output": "#7b5ea7", "activation": "#8da0cb"}
PEAK_COLOUR = "#e5793b"
SRAM_COLOUR = "#c0392b"


def lifetime_figure(
    plan: MemoryPlan,
    sram_bytes: float | None = None,
    title: str | None = None,
    limit_name: str = "SRAM",
) -> Figure:
    """The chart as a matplotlib ``Figure`` (call ``savefig`` on it, or use ``save_chart``);
    ``sram_bytes`` draws the limit the activations must fit, labelled ``limit_name``."""
    tensors = plan.lifetimes.tensors
    arena = plan.arena
    peak = plan.peak_step
    fig = Figure(figsize=(10, 5.5), layout="constrained")
    ax = fig.add_subplot()
    top = 0.0
    for tensor, offset, size in zip(tensors, arena.offsets, arena.sizes, strict=True):
        if tensor.end < tensor.start or not tensor.nbytes:
            continue
        colour = PEAK_COLOUR if tensor.alive_at(peak) else COLOURS[tensor.kind]
        bar = Rectangle(
            (tensor.start - 0.45, offset / KIB),
            tensor.end - tensor.start + 0.9,
            size / KIB,
            facecolor=colour,
            edgecolor="white",
            linewidth=0.5,
            label=tensor.name,
        )
        ax.add_patch(bar)
        top = max(top, (offset + size) / KIB)
    steps = range(len(plan.lifetimes.live_bytes))
    ax.step(
        list(steps),
        [b / KIB for b in plan.lifetimes.live_bytes],
        where="mid",
        color="black",
        linewidth=1,
        label="bytes alive",
    )
    ax.axvline(peak, color=PEAK_COLOUR, linestyle=":", linewidth=1)
    ax.annotate(
        f"peak {plan.peak_bytes / KIB:,.1f} KiB\n{plan.peak_kernel}",
        xy=(peak, plan.peak_bytes / KIB),
        xytext=(4, 4),
        textcoords="offset points",
        fontsize=8,
    )
    if sram_bytes is not None:
        ax.axhline(sram_bytes / KIB, color=SRAM_COLOUR, linestyle="--", linewidth=1.2)
        ax.annotate(
            f"{limit_name} {sram_bytes / KIB:,.0f} KiB",
            xy=(0, sram_bytes / KIB),
            xytext=(2, 3),
            textcoords="offset points",
            color=SRAM_COLOUR,
            fontsize=8,
        )
        top = max(top, sram_bytes / KIB)
    legend = [
        Patch(facecolor=COLOURS["input"], label="model input"),
        Patch(facecolor=COLOURS["activation"], label="activation"),
        Patch(facecolor=COLOURS["output"], label="model output"),
        Patch(facecolor=PEAK_COLOUR, label="alive at the peak"),
    ]
    ax.legend(handles=legend, loc="upper right", fontsize=8)
    ax.set_xlim(-1, max(len(steps), 1))
    ax.set_ylim(0, top * 1.08 if top else 1)
    ax.set_xlabel(f"schedule step ({plan.schedule}, {plan.method})")
    ax.set_ylabel("arena offset (KiB)")
    ax.set_title(title or "activation lifetimes")
    return fig


def save_chart(
    plan: MemoryPlan,
    path: str | Path,
    sram_bytes: float | None = None,
    title: str | None = None,
    limit_name: str = "SRAM",
) -> Path:
    """Write the chart to ``path`` (the format follows the suffix: .png, .svg, .pdf...).
    Drawn in memory and written by ``outfile``: a failed write is one line, not a partial
    file or a silent success (matplotlib's PNG writer ignores a full disk)."""
    out = Path(path)
    check_chart_path(out)
    buffer = io.BytesIO()
    figure = lifetime_figure(plan, sram_bytes, title, limit_name)
    figure.savefig(buffer, format=out.suffix[1:].lower(), dpi=150)
    write_output(out, buffer.getbuffer())
    return out


def check_chart_path(path: Path) -> None:
    """Refuse, before any work, a chart path whose suffix names no format matplotlib writes,
    or that can never be written (a directory, a missing parent)."""
    formats = FigureCanvasBase.get_supported_filetypes()
    if path.suffix[1:].lower() not in formats:
        raise OutputError(
            f"{path}: the chart's format follows the file's suffix: .png, .svg or .pdf "
            f"(also {', '.join(sorted(set(formats) - {'png', 'svg', 'pdf'}))})"
        )
    check_writable(path)

"""The sweep report: one self-contained HTML page and the plots as PNG and SVG files.

The page answers the architect's three questions per (workload, variant, batch): which designs
are on the Pareto front of latency, energy and area (a latency-energy scatter, area as colour,
the front ringed); how much each swept parameter moves each objective (its main effect: the
geometric mean of the objective at each of the parameter's values, averaged over every other
parameter, and the ratio between the largest and the smallest); and the best designs (the
front's rows, lowest energy-delay product first). Images are embedded as base64 PNG, so the
page needs nothing beside it; the same figures are written as PNG and SVG for papers.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from .pareto import GROUP
from .spec import SweepSpec

OBJECTIVES = {"latency_s": "latency (s)", "energy_j": "energy (J)", "area_mm2": "area (mm²)"}
BEST_ROWS = 10


def main_effects(rows: pd.DataFrame, keys: Sequence[str], objective: str) -> dict[str, pd.Series]:
    """Per swept key, the geometric-mean objective at each of its values."""
    logs = pd.Series(np.log(rows[objective].astype(float).clip(lower=1e-300)), index=rows.index)
    return {
        key: logs.groupby(rows[key].astype(str), sort=False).mean().apply(math.exp) for key in keys
    }


def sensitivity(rows: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Max/min ratio of each objective's main effect over each key's values (1: no effect)."""
    table = {}
    for objective in OBJECTIVES:
        if rows[objective].isna().all():
            continue
        effects = main_effects(rows, keys, objective)
        table[objective] = {
            k: float(e.max() / e.min()) if len(e) else 1.0 for k, e in effects.items()
        }
    return pd.DataFrame(table)


def best_designs(rows: pd.DataFrame, n: int = BEST_ROWS) -> pd.DataFrame:
    front = rows[rows["pareto"]]
    edp = front["latency_s"] * front["energy_j"]
    return front.assign(edp_js=edp).sort_values("edp_js").head(n)


def _pareto_figure(rows: pd.DataFrame, title: str) -> Figure:
    fig = Figure(figsize=(6.4, 4.6), layout="constrained")
    ax = fig.add_subplot()
    area = rows["area_mm2"].astype(float)
    x, y = rows["latency_s"] * 1e3, rows["energy_j"] * 1e3
    coloured = bool(area.notna().all())
    dots = (
        ax.scatter(x, y, c=area, s=9, cmap="viridis", alpha=0.7)
        if coloured
        else ax.scatter(x, y, s=9, alpha=0.7)
    )
    front = rows[rows["pareto"]]
    ax.scatter(
        front["latency_s"] * 1e3,
        front["energy_j"] * 1e3,
        s=40,
        facecolors="none",
        edgecolors="crimson",
        linewidths=1.0,
        label="Pareto front (latency, energy, area)",
    )
    infeasible = rows[~rows["feasible"]]
    if len(infeasible):
        ax.scatter(
            infeasible["latency_s"] * 1e3,
            infeasible["energy_j"] * 1e3,
            marker="x",
            s=12,
            c="grey",
            label="violates a constraint",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("energy per inference (mJ)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    if coloured:
        fig.colorbar(dots, ax=ax, label="area (mm²)")
    return fig


def _sensitivity_figure(rows: pd.DataFrame, keys: Sequence[str], title: str) -> Figure:
    objectives = [o for o in OBJECTIVES if rows[o].notna().all()]
    fig = Figure(
        figsize=(2.6 * max(len(keys), 1) + 0.6, 2.2 * len(objectives) + 0.6), layout="constrained"
    )
    axes = fig.subplots(len(objectives), len(keys), squeeze=False)
    for i, objective in enumerate(objectives):
        effects = main_effects(rows, keys, objective)
        for j, key in enumerate(keys):
            ax = axes[i][j]
            effect = effects[key]
            ax.plot(range(len(effect)), effect.to_numpy(), marker="o")
            ax.set_xticks(range(len(effect)), [_short(v) for v in effect.index], fontsize=7)
            ax.set_yscale("log")
            if i == len(objectives) - 1:
                ax.set_xlabel(key, fontsize=8)
            if j == 0:
                ax.set_ylabel(OBJECTIVES[objective], fontsize=8)
    fig.suptitle(f"main effects: {title}", fontsize=10)
    return fig


def _plain_log_labels(ax: Axes) -> None:
    """Tick labels of log axes as plain numbers ("0.031", "40"): matplotlib's default
    10^k labels go through mathtext, which takes most of a report's drawing time. Minor ticks
    are labelled only on an axis spanning less than a decade (else it has majors enough)."""
    plain = FuncFormatter(lambda value, _: f"{value:.3g}")
    for axis, scale, (lo, hi) in (
        (ax.xaxis, ax.get_xscale(), ax.get_xlim()),
        (ax.yaxis, ax.get_yscale(), ax.get_ylim()),
    ):
        if scale != "log":
            continue
        axis.set_major_formatter(plain)
        axis.set_minor_formatter(plain if hi < 10 * lo else NullFormatter())


def _short(value: str) -> str:
    try:
        number = float(value)
    except ValueError:
        return value[:10]
    return f"{number:.3g}"


def _save(fig: Figure, stem: Path) -> str:
    """Write ``stem``.png and .svg; return the PNG as base64 for the page."""
    for ax in fig.axes:
        _plain_log_labels(ax)
    fig.savefig(stem.parent / f"{stem.name}.svg")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    (stem.parent / f"{stem.name}.png").write_bytes(buffer.getvalue())
    return base64.b64encode(buffer.getvalue()).decode()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0, escape=True)


def write_report(spec: SweepSpec, rows: pd.DataFrame, outdir: Path) -> Path:
    """OUTDIR/report.html and OUTDIR/plots/*.png|svg for ``rows`` (a sweep's results)."""
    plots = outdir / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    keys = list(spec.keys)
    sections = []
    for (workload, variant, batch), group in rows.groupby(GROUP, sort=False):
        title = f"{workload} · {variant} · batch {batch}"
        slug = _slug(f"{workload}_{variant}_b{batch}")
        pareto_png = _save(_pareto_figure(group, title), plots / f"pareto_{slug}")
        sens_png = _save(_sensitivity_figure(group, keys, title), plots / f"sensitivity_{slug}")
        ratios = sensitivity(group, keys).reset_index(names="parameter")
        shown = [*spec.columns, "latency_s", "energy_j", "area_mm2", "power_w", "edp_js"]
        best = best_designs(group)[shown]
        sections.append(
            f"<h2>{html.escape(title)}</h2>"
            f"<p>{len(group)} design points, {int(group['feasible'].sum())} feasible, "
            f"{int(group['pareto'].sum())} on the Pareto front.</p>"
            f'<img alt="Pareto front" src="data:image/png;base64,{pareto_png}">'
            "<h3>Sensitivity</h3><p>Largest over smallest main effect of each parameter "
            "(1 = no effect).</p>"
            f"{_table(ratios)}"
            f'<img alt="main effects" src="data:image/png;base64,{sens_png}">'
            f"<h3>Best designs (Pareto front, lowest energy-delay product first)</h3>"
            f"{_table(best)}"
        )
    constraints = ", ".join(str(c) for c in spec.constraints) or "none"
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>hwsim sweep</title><style>"
        "body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}"
        "table{border-collapse:collapse;font-size:13px}td,th{padding:2px 8px;"
        "border-bottom:1px solid #ddd;text-align:right}img{max-width:100%}</style></head><body>"
        f"<h1>hwsim sweep on {html.escape(Path(spec.base).name)}</h1>"
        f"<p>Swept: {html.escape(', '.join(keys))}. Sample: {spec.sample}. "
        f"Constraints: {html.escape(constraints)}. Points: {rows['point'].nunique()}.</p>"
        + "".join(sections)
        + "</body></html>\n"
    )
    path = outdir / "report.html"
    path.write_text(page)
    return path

"""Render estimates for people (rich tables) and programs (JSON, CSV).

The library returns values; only this module and the CLI turn them into text. Machine-readable
output goes to stdout, tables for people to stderr, so ``hwsim ... --format json | jq`` works.
"""

from __future__ import annotations

import io
import json
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pandas as pd
from rich import box
from rich.console import Console
from rich.table import Table

from .estimate import Estimate, op_notes
from .ops import OpKind


def _si(value: float | None, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    for factor, prefix in (
        (1e12, "T"),
        (1e9, "G"),
        (1e6, "M"),
        (1e3, "k"),
        (1, ""),
        (1e-3, "m"),
        (1e-6, "µ"),
        (1e-9, "n"),
        (1e-12, "p"),
    ):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"0 {unit}"


def _db(value: float | None) -> str:
    if value is None:
        return ""
    return "exact" if math.isinf(value) else f"{value:.1f} dB"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _common_prefix(names: Sequence[str]) -> str:
    """The dotted module prefix all names share ("model.encoder."), dropped to save width."""
    parts = [n.split(".") for n in names if "." in n]
    if len(parts) < 2 or len(parts) != len(names):
        return ""
    prefix: list[str] = []
    for column in zip(*parts, strict=False):
        if len(set(column)) != 1:
            break
        prefix.append(column[0])
    return ".".join(prefix) + "." if prefix else ""


def shorten_middle(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters by dropping its middle, where a module path is
    least specific: the tail keeps whole path components (the layer and op), the head as
    many characters of the model part as are left."""
    if len(text) <= width:
        return text
    if width <= 1:
        return text[:width]
    budget = width - 1 - min(8, (width - 1) // 3)  # leave the head a few characters
    cuts = [i + 1 for i, ch in enumerate(text) if ch in "./"]
    tail = next((text[i:] for i in cuts if len(text) - i <= budget), text[len(text) - budget :])
    return f"{text[: width - 1 - len(tail)]}…{tail}"


# The per-layer table's columns, in order: (header, justify). Optional ones appear only when
# they say something (sparse weights, mixed precisions) and the width allows.
_FIXED = (
    ("op", "left"),
    ("MACs", "right"),
    ("latency", "right"),
    ("bound", "left"),
    ("util", "right"),
    ("energy", "right"),
)
_MIN_LAYER = 30
TABLE_WIDTH = 100


def _row_cells(est: Estimate, op: Any, cost: Any) -> dict[str, str]:
    kind = f"{op.kind}" + ("*" if op.fused_into else "")
    density = f"{op.weight_stats.density:.2f}" if op.weight_stats else ""
    if cost is None:
        return {
            "op": kind,
            "MACs": _si(op.macs, "") if op.macs else "",
            "cycles": "—",
            "latency": "—",
            "bound": "unsupported",
            "util": "—",
            "energy": "—",
            "w.dens": density,
            "prec": "",
            "stall": "—",
        }
    return {
        "op": kind,
        "MACs": _si(op.macs, "") if op.macs else "",
        "cycles": f"{cost.cycles:,.0f}",
        "latency": _si(cost.latency_s, "s"),
        "bound": str(cost.bound),
        "util": _pct(cost.utilization),
        "energy": _si(cost.total_energy_j, "J"),
        "w.dens": density,
        "prec": cost.precision,
        "stall": f"{cost.stall_cycles:,.0f}",
    }


def layer_table(
    est: Estimate, *, all_ops: bool = False, top: int | None = None, width: int = TABLE_WIDTH
) -> Table:
    """Per-op rows in execution order (or the ``top`` slowest), with totals as the footer.

    Every row is one line that fits ``width`` columns: layer names lose their middle rather
    than wrap, columns that would say nothing (all weights dense, one precision) are left out,
    and ``cycles``, weight density, precision and ``stall`` appear, in that order, while the
    layer names keep ``_MIN_LAYER`` characters (JSON and CSV always have every field).
    """
    rows = [(op, cost) for op, cost in est.costs if all_ops or op.kind is not OpKind.VIEW]
    prefix = _common_prefix([op.name for op, _ in rows])
    if top:
        rows = sorted(rows, key=lambda r: -(r[1].cycles if r[1] else math.inf))[:top]
    total = est.total
    cells = [_row_cells(est, op, cost) for op, cost in rows]
    footer = {
        "MACs": _si(est.macs, ""),
        "cycles": f"{total.cycles:,.0f}",
        "latency": _si(total.latency_s, "s"),
        "util": _pct(total.utilization),
        "energy": _si(total.total_energy_j, "J"),
        "stall": f"{total.stall_cycles:,.0f}",
    }
    precisions = {c["prec"] for c in cells if c["prec"]}
    details = est.graph_cost.layer_details if est.graph_cost else {}
    nodes = est.graph.dag.nodes
    compressed = any(nodes[op.id].get("compression") is not None for op, _ in rows)
    extra: list[tuple[str, str, list[str], str]] = []  # header, justify, cells, footer
    folds = [details.get(op.id, {}) for op, _ in rows]
    if any("pe" in f for f in folds):
        texts = [f"{f['pe']} x {f.get('simd') or 1}" if "pe" in f else "" for f in folds]
        extra.append(("PE x SIMD", "right", texts, ""))
    if any("device" in f for f in folds):  # a deployed profile: where each op ran
        extra.append(("device", "left", [str(f.get("device") or "") for f in folds], ""))
        extra.append(("weights", "left", [str(f.get("weights") or "") for f in folds], ""))
    if compressed:
        labels = [nodes[op.id].get("compression") for op, _ in rows]
        texts = [a.label if a is not None else "" for a in labels]
        extra.append(("compr.", "left", texts, ""))
    if est.sqnr is not None:
        texts = [_db(est.sqnr.layers_db.get(op.id)) for op, _ in rows]
        extra.append(("SQNR", "right", texts, _db(est.sqnr.output_db)))

    def span(header: str, values: list[str], foot: str = "") -> int:
        return max([len(header), len(foot), *(len(v) for v in values)])

    widths = (
        {h: span(h, [c[h] for c in cells], footer.get(h, "")) for h in cells[0]} if cells else {}
    )
    widths.update({h: span(h, texts, foot) for h, _, texts, foot in extra})
    # Each column costs its text and a two-character gap; the last has no gap after it.
    used = sum(widths.get(h, len(h)) + 2 for h, _ in _FIXED)
    used += sum(widths[h] + 2 for h, _, _, _ in extra) + 2  # + the layer column's gap
    optional = ["cycles"]
    if any(c["w.dens"] and float(c["w.dens"]) < 0.995 for c in cells) or compressed:
        optional.append("w.dens")
    if len(precisions) > 1:
        optional.append("prec")
    optional.append("stall")
    shown: list[str] = []
    for header in optional:
        cost = widths.get(header, len(header)) + 2
        if header == "stall" and "cycles" not in shown:
            continue  # stall cycles read only beside the cycles they are part of
        if width - used - cost >= _MIN_LAYER:
            shown.append(header)
            used += cost
    names = [op.name.removeprefix(prefix) for op, _ in rows]
    layer_width = max(min(width - used, max((len(n) for n in names), default=5)), 5)
    title = f"{est.graph.info.source} on {est.profile.name} (batch {est.graph.info.batch})"
    if prefix:
        title += f", layers under {prefix.rstrip('.')}"
    if len(precisions) == 1:
        title += f", {next(iter(precisions))}"
    captions = ["* fused into the kernel before it"] if any(op.fused_into for op, _ in rows) else []
    if compressed:  # why zeros did not pay off: each distinct reason once, with its count
        reasons = Counter(
            "; ".join(op_notes(op, cost, est.profile, nodes[op.id].get("compression")))
            for op, cost in rows
            if cost is not None and nodes[op.id].get("compression") is not None
        )
        captions += [
            f"why ({n} layer{'s' * (n > 1)}): {text}" for text, n in reasons.items() if text
        ]
    if any("device" in f for f in folds):  # why each op ran where it did, and its weights
        placed = Counter(f"{f['device']}: {f['device_why']}" for f in folds if f.get("device"))
        for mode in ("cached", "streamed"):
            why = [str(f["weights_why"]) for f in folds if f.get("weights") == mode]
            if why:  # the first layer's reason: the cache fills in graph order
                placed[f"weights {mode}: {why[0]}"] = len(why)
        captions += [f"{text} ({n} layer{'s' * (n > 1)})" for text, n in placed.items()]
    table = Table(
        title=title,
        caption="\n".join(captions) or None,
        caption_justify="left",
        show_footer=True,
        header_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
    )
    table.add_column("layer", footer="total", no_wrap=True, width=layer_width)
    order = ["op", "MACs", *[h for h in ("cycles", "stall") if h in shown], "latency", "bound"]
    order += ["util", "energy", *[h for h in ("w.dens", "prec") if h in shown]]
    justify = dict(_FIXED) | {
        "cycles": "right",
        "stall": "right",
        "w.dens": "right",
        "prec": "left",
    }
    for header in order:
        table.add_column(
            header,
            justify=justify[header],  # type: ignore[arg-type]
            footer=footer.get(header, ""),
            no_wrap=True,
            width=widths.get(header, len(header)),
        )
    for header, side, _, foot in extra:
        table.add_column(
            header,
            justify=side,  # type: ignore[arg-type]
            footer=foot,
            no_wrap=True,
            width=widths[header],
        )
    for i, ((_, priced), cell) in enumerate(zip(rows, cells, strict=True)):
        values = [shorten_middle(names[i], layer_width)]
        values += [
            ("[red]unsupported[/red]" if priced is None else cell[h]) if h == "bound" else cell[h]
            for h in order
        ]
        values += [texts[i] for _, _, texts, _ in extra]
        table.add_row(*values)
    return table


def totals_lines(est: Estimate) -> list[str]:
    d = est.to_dict()["total"]
    energy = ", ".join(f"{k} {_si(v, 'J')}" for k, v in d["energy_breakdown_j"].items())
    moved = ", ".join(
        f"{lvl} {_si(d['bytes_read'].get(lvl, 0) + d['bytes_written'].get(lvl, 0), 'B')}"
        for lvl in sorted(set(d["bytes_read"]) | set(d["bytes_written"]))
    )
    lines = [
        f"latency {_si(d['latency_s'], 's')}  ({d['throughput_per_s']:.1f} inferences/s)"
        if d["throughput_per_s"]
        else "latency —",
        f"energy {_si(d['energy_j'], 'J')}  ({energy})",
        f"MACs {_si(d['macs'], '')}  params {_si(d['params'], '')}  "
        + (
            "weights: in each layer's own memories (see resources)"
            if est.graph_cost is not None and est.graph_cost.resources
            else f"weights {_si(d['device_weight_bytes'], 'B')} on device, "
            f"resident in '{d['weight_home']}'"
        ),
        f"peak activations {_si(d['peak_activation_bytes'], 'B')} ({d['schedule']} order)  "
        f"utilization "
        f"{_pct(d['utilization'])}  bytes moved: {moved}",
    ]
    if est.sqnr is not None:
        lines.append(
            f"accuracy proxy: output SQNR {_db(est.sqnr.output_db)} against the uncompressed "
            "model on one seeded sample input (a proxy, not task accuracy)"
        )
    lines += fpga_lines(est)
    lines += memory_fit_lines(est)
    notes = sorted({n for _, cost in est.costs if cost for n in cost.notes})
    lines += [f"note: {n}" for n in notes]
    for u in est.unsupported:
        lines.append(f"UNSUPPORTED (not in totals): {u.name} [{u.target}]: {u.reason}")
    return lines


def memory_fit_lines(est: Estimate) -> list[str]:
    """Whether the model fits the device's memories, and what fills them (classes with a
    memory-fit rule, the microcontrollers); nothing otherwise."""
    fit = est.memory_fit
    if fit is None:
        return []
    lines = []
    for use in fit.uses:
        parts = ", ".join(f"{name} {_si(b, 'B')}" for name, b in use.parts.items() if b)
        lines.append(
            f"{use.memory}: {_si(use.used_bytes, 'B')} of {_si(use.available_bytes, 'B')} ({parts})"
        )
    if fit.fits:
        return ["fits the device", *lines]
    short = "; ".join(
        f"{u.memory} needs {_si(u.used_bytes, 'B')}, has {_si(u.available_bytes, 'B')}"
        for u in fit.binding
    )
    return [f"[bold red]DOES NOT FIT[/bold red]: {short}", *lines]


def fpga_lines(est: Estimate) -> list[str]:
    """Frame rate, fit and resources of a whole-graph (FPGA) estimate; nothing otherwise."""
    gc = est.graph_cost
    if gc is None:
        return []
    if gc.fits is None and not gc.resources:  # a plan's report (Edge TPU): its notes only
        return [f"note: {n}" for n in gc.notes]
    lines = [f"throughput {gc.throughput_fps:,.1f} frames/s"]
    if gc.fits is not None:
        lines.append(
            "fits the device"
            if gc.fits
            else f"[bold red]DOES NOT FIT[/bold red]: {gc.binding_resource} runs out"
        )
    if gc.resources:
        lines.append(
            "resources: "
            + "  ".join(
                f"{name} {r['used']:,.0f}/{r['available']:,.0f}"
                for name, r in gc.resources.items()
                if r["available"] or r["used"]
            )
        )
    return lines + [f"note: {n}" for n in gc.notes]


def comparison_table(estimates: Sequence[Estimate]) -> Table:
    table = Table(title="comparison", header_style="bold")
    for col in (
        "model",
        "hw",
        "batch",
        "latency",
        "throughput/s",
        "energy",
        "util",
        "weights in",
        "complete",
    ):
        table.add_column(col, justify="left" if col in ("model", "hw", "weights in") else "right")
    for est in estimates:
        d = est.to_dict()["total"]
        table.add_row(
            est.graph.info.source,
            est.profile.name,
            str(est.graph.info.batch),
            _si(d["latency_s"], "s"),
            f"{d['throughput_per_s']:.1f}" if d["throughput_per_s"] else "—",
            _si(d["energy_j"], "J"),
            _pct(d["utilization"]),
            d["weight_home"],
            "yes" if d["complete"] else "[red]no[/red]",
        )
    return table


def print_tables(
    estimates: Sequence[Estimate], console: Console, *, all_ops: bool, top: int | None
) -> None:
    width = min(console.width, TABLE_WIDTH)  # a 100-column terminal shows it unwrapped
    for est in estimates:
        console.print(layer_table(est, all_ops=all_ops, top=top, width=width))
        for line in totals_lines(est):
            console.print(line, highlight=False)
        console.print()
    if len(estimates) > 1:
        console.print(comparison_table(estimates))


def to_json(estimates: Sequence[Estimate]) -> str:
    payload: Any = (
        estimates[0].to_dict() if len(estimates) == 1 else [e.to_dict() for e in estimates]
    )
    return json.dumps(payload, indent=2, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and math.isinf(value):
        return None
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def to_csv(estimates: Sequence[Estimate]) -> str:
    frames = [
        e.table.assign(hw=e.profile.name, batch=e.graph.info.batch, model=e.graph.info.source)
        for e in estimates
    ]
    buffer = io.StringIO()
    pd.concat(frames, ignore_index=True).to_csv(buffer, index=False)
    return buffer.getvalue()


def comparison_rows_table(frame: pd.DataFrame, title: str) -> Table:
    """``hwsim compare``'s rows: one line per (hardware, variant), grouped by hardware."""
    table = Table(title=f"compression variants: {title}", header_style="bold")
    sqnr = "sqnr_db" in frame and frame["sqnr_db"].notna().any()
    columns = ["hw", "variant", "latency", "speedup", "energy", "x energy", "weights", "formats"]
    for col in [*columns, "peak act.", *(["SQNR"] if sqnr else [])]:
        table.add_column(col, justify="left" if col in ("hw", "variant", "formats") else "right")
    for _, row in frame.sort_values(["hw"], kind="stable").iterrows():
        cells = [
            row["hw"],
            row["variant"],
            _si(row["latency_s"], "s"),
            f"{row['speedup']:.2f}x",
            _si(row["energy_j"], "J"),
            f"{row['energy_ratio']:.2f}",
            _si(row["weight_bytes"], "B"),
            row["weight_formats"],
            _si(row["peak_activation_bytes"], "B"),
        ]
        if sqnr:
            cells.append(_db(row["sqnr_db"]) if pd.notna(row["sqnr_db"]) else "")
        table.add_row(*cells, end_section=False)
    return table

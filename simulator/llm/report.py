"""A serving estimate for people: one rich table of latencies, memory and phases.

The library returns the table; the CLI prints it (to stderr, so ``--format json`` on stdout
stays machine-readable). Programs read ``ServingEstimate.to_dict()`` instead.
"""

from __future__ import annotations

from rich.table import Table

from .serving import PhaseCost, ServingEstimate

_PREFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "µ"))


def _si(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    for factor, prefix in _PREFIXES:
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def _phase_row(name: str, phase: PhaseCost, steps: int, devices: int, level: str) -> list[str]:
    energy = sum(phase.energy_j.values()) * devices
    return [
        name,
        str(steps),
        _si(phase.latency_s, "s"),
        phase.bound,
        _si(phase.bytes_read.get(level, 0.0), "B"),
        _si(phase.comm_s, "s") if phase.comm_s else "—",
        _si(energy, "J"),
    ]


def serving_table(est: ServingEstimate) -> Table:
    """Latencies, throughput, memory against capacity, and each phase's bound."""
    r = est.request
    title = (
        f"{est.config.name} on {est.profile.name}: batch {r.batch}, {r.prompt} in / {r.gen} out, "
        f"{r.quant} (KV {est.kv_dtype}), tp {r.tp}, {r.decode_kernel} decode"
    )
    level = est.profile.backing.name
    table = Table(title=title, header_style="bold", show_header=True)
    for column in ("", "steps", "time", "bound", f"{level} read", "interconnect", "energy"):
        table.add_column(column, justify="left" if not column else "right")
    table.add_row(*_phase_row("prefill (TTFT)", est.prefill, 1, r.tp, level))
    table.add_row(*_phase_row("decode", est.decode, est.decode_steps, r.tp, level))
    m = est.memory
    fits = {True: "fits", False: "does NOT fit", None: "capacity unknown"}[m.fits]
    summary = [
        ("TTFT", _si(est.ttft_s, "s")),
        ("TPOT", _si(est.tpot_s, "s")),
        ("end to end", _si(est.e2e_s, "s")),
        ("tokens/s", f"{est.tokens_per_s:,.1f}"),
        (
            "memory per device",
            f"{_si(m.total_bytes, 'B')} of {_si(m.capacity_bytes, 'B')}: {fits} "
            f"(weights {_si(m.weights_bytes, 'B')}, KV {_si(m.kv_cache_bytes, 'B')}, "
            f"activations {_si(m.activation_bytes, 'B')})",
        ),
        ("largest batch that fits", "—" if m.max_batch is None else str(m.max_batch)),
    ]
    table.caption = "\n".join(
        [f"{k}: {v}" for k, v in summary]
        + [f"unsupported: {u}" for u in est.unsupported]
        + [f"note: {n}" for n in est.notes]
    )
    table.caption_justify = "left"
    return table

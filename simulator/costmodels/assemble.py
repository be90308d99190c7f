"""The one way every class model turns its timing and traffic into an ``OpCost``.

Class models differ in how they compose time (a roofline's ``max(compute, memory)``, an
array's compute plus stalls, a GPU's host/device race, a pipeline stage) and in where their
bytes go, but not in what a cost is: the bound from the same three terms, energy as actions
times energy per action plus static power over the op's time, MACs counted the same way.
Keeping that here means a change to the energy model or the bound rule reaches every class.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..cost import Bound, OpCost
from ..hardware import Profile
from ..ops import MAC_KINDS, Op
from .base import PricingContext

PJ = 1e-12


def classify_bound(compute: float, memory: float, overhead: float) -> Bound:
    """Launch-bound when the fixed overhead outweighs the work, else the larger of the two."""
    if overhead > max(compute, memory):
        return Bound.LAUNCH
    return Bound.COMPUTE if compute >= memory else Bound.MEMORY


def energy(
    op: Op,
    profile: Profile,
    precision: str,
    reads: Mapping[str, float],
    writes: Mapping[str, float],
    cycles: float,
    *,
    macs: float | None = None,
    per_byte_pj: Mapping[str, tuple[float, float]] | None = None,
    static_j: float | None = None,
) -> dict[str, float]:
    """Joules per component.

    ``macs`` overrides the op's MACs where hardware skips some (2:4 sparse tensor cores do
    half the multiplies). Bytes are charged at each memory level's read/write energy, or at
    ``per_byte_pj[name]`` = (read, write) for buffers that are not profile levels (a systolic
    array's operand SRAMs). Static energy is the profile's static power over ``cycles``,
    unless ``static_j`` gives the op's share some other way (a pipeline stage's share of the
    frame).
    """
    if op.kind in MAC_KINDS:
        done = op.macs if macs is None else macs
        compute = done * profile.energy.mac_pj[precision] * PJ
    else:
        compute = op.flops * profile.energy.vector_op_pj * PJ
    out = {"compute": compute}
    levels = {lvl.name: lvl for lvl in profile.memory}
    # Components in a stable order: the class's own buffers, the profile's levels, the rest.
    for name in dict.fromkeys([*(per_byte_pj or {}), *levels, *reads, *writes]):
        r, w = reads.get(name, 0.0), writes.get(name, 0.0)
        if not (r or w):
            continue
        if per_byte_pj is not None and name in per_byte_pj:
            read_pj, write_pj = per_byte_pj[name]
        else:
            level = levels[name]
            read_pj, write_pj = level.read_energy_pj_per_byte, level.write_energy_pj_per_byte
        out[name] = (r * read_pj + w * write_pj) * PJ
    out["static"] = (
        profile.energy.static_power_w * cycles / profile.clock_hz if static_j is None else static_j
    )
    return out


def op_cost(
    op: Op,
    ctx: PricingContext,
    *,
    precision: str,
    cycles: float,
    compute: float,
    memory: float,
    overhead: float,
    ideal: float,
    reads: Mapping[str, float],
    writes: Mapping[str, float],
    notes: tuple[str, ...] = (),
    bound: Bound | None = None,
    label: str | None = None,
    macs_done: float | None = None,
    per_byte_pj: Mapping[str, tuple[float, float]] | None = None,
    static_j: float | None = None,
) -> OpCost:
    """The ``OpCost`` of ``op``: ``cycles`` as the class composed them from ``compute``,
    ``memory`` and ``overhead`` (which also decide the bound unless ``bound`` is given);
    energy at ``precision``; ``label`` is the precision shown (default: ``precision``)."""
    return OpCost(
        cycles=cycles,
        compute_cycles=compute,
        clock_hz=ctx.profile.clock_hz,
        bound=classify_bound(compute, memory, overhead) if bound is None else bound,
        ideal_cycles=ideal,
        memory_cycles=memory,
        overhead_cycles=overhead,
        macs=op.macs if op.kind in MAC_KINDS else 0,
        bytes_read=dict(reads),
        bytes_written=dict(writes),
        energy_j=energy(
            op,
            ctx.profile,
            precision,
            reads,
            writes,
            cycles,
            macs=macs_done,
            per_byte_pj=per_byte_pj,
            static_j=static_j,
        ),
        precision=precision if label is None else label,
        notes=notes,
    )

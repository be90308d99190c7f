"""Cycles of int8 CMSIS-NN kernels on Cortex-M cores, from their inner loops.

A microcontroller has no caches to model and no parallel units to map onto: an int8 layer
costs what its kernel's inner loop costs, times how often the loop runs. So the model is two
small tables.

``KERNELS``: each kernel's inner loop as an instruction mix (loads, stores, ALU and SIMD
instructions, multiply-accumulates, taken branches) per unit of work, counted from the
CMSIS-NN sources (github.com/ARM-software/CMSIS-NN, commit 99f736a, the ``ARM_MATH_DSP``
paths that Cortex-M4 and M7 build):

- ``conv_mac``: ``arm_nn_mat_mult_kernel_s8_s16`` (after im2col, every conv but 1x1 and
  depthwise): one iteration computes a 2x2 block of outputs over 4 reduction elements, 16
  MACs: 2 ``read_and_pad_reordered`` of weights (2 loads, 4 ``SXTB16``), 4 ``arm_nn_read_q15x2``
  of the int16 im2col columns (4 loads), 8 ``SMLAD``, the loop counter and branch.
- ``pointwise_mac``: ``arm_nn_mat_mult_nt_t_s8`` (``arm_convolve_1x1_s8_fast``): per 16 MACs 4
  loads, 8 ``SXTB16``, 8 ``SMLAD``; unrolled four times, so the loop costs a quarter branch.
- ``depthwise_mac``: ``arm_depthwise_conv_3x3_s8``: per kernel tap and 4 channels (4 MACs) 2
  loads, 2 ``SXTAB16`` and 2 ``SXTB16``, 4 ``SMLABB``/``SMLATT``; three taps per row are
  unrolled.
- ``fc_mac``: ``arm_nn_vec_mat_mult_t_s8`` (fully connected): two weight rows at a time, per 4
  inputs (8 MACs) 3 loads, 6 ``SXTAB16``, 4 ``SMLAD``, the loop.
- ``im2col_element``: per element copied into the im2col buffer, ``arm_memcpy_s8`` (a word
  load and store per 4 bytes) then ``arm_s8_to_s16_unordered_with_offset`` (a load, 2
  ``SXTAB16``, 2 stores per 4).
- ``requantize_output``: per output, ``arm_nn_requantize`` (``arm_nn_doubling_high_mult_no_sat``
  and ``arm_nn_divide_by_power_of_two``: about 16 ALU instructions), the offset, the clamp, a
  byte store, and the per-channel multiplier and shift loads.
- ``add_element``: ``arm_elementwise_add_s8``, per output: three requantizations (each input to
  a common scale, the sum to the output's) and the offsets and clamp.
- ``avgpool_element``/``maxpool_element``: ``arm_avgpool_s8`` (a byte load, a 32-bit
  accumulator load, ``QADD`` and store per input element) and ``arm_max_pool_s8`` (compare and
  replace, 4 bytes per word).
- ``sum_element``: a running sum over int8 values (a load and an add; the kernel sums of
  ``arm_nn_mat_mult_nt_t_s8``, reductions).
- ``softmax_element``: ``arm_softmax_s8``, per element the max pass, the fixed-point exp and sum
  pass and the output pass (about 60 instructions; # assumed from the structure, not counted).
- ``copy_byte``: a word load and store per 4 bytes (``arm_memcpy_s8``).
- ``lut_element``: a unary op other than an activation clamp (sigmoid, hard-swish, gelu...)
  through a lookup table or a requantization per element.
- ``resample_tap``/``resample_output``: an interpolating resize (TFLite Micro's reference
  ``ResizeBilinearInteger``; CMSIS-NN has none): per input tap a byte load, its fixed-point
  weight's index arithmetic and a multiply-accumulate; per output the rounding shift, the
  store and the loop (# assumed from the structure, not counted).

``CORES``: how a core issues a mix, from the processors' technical reference manuals.
Cortex-M4 issues one instruction a cycle; ``LDR`` takes 2 cycles but neighbouring loads
pipeline (N loads in N + 1), so a load costs 1.5 cycles when the compiler pairs them; a store
is buffered (1 cycle); a taken branch refills the 3-stage pipeline (2 cycles). Cortex-M7
dual-issues: at most one multiply-accumulate and one load/store a cycle, two instructions a
cycle in all, branches predicted; its cycles are the largest of those three bounds. Flash wait
states and cache misses are not modelled here: a runtime's fitted efficiency carries them
(``mcu_runtimes.py``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mix:
    """Instructions of one unit of a kernel's work, by the unit that executes them."""

    loads: float = 0.0
    stores: float = 0.0
    alu: float = 0.0  # ALU and SIMD (SXTB16, SXTAB16, QADD...) instructions
    mac: float = 0.0  # multiply-accumulates (SMLAD, SMLABB...)
    branches: float = 0.0  # taken branches (loop back-edges)

    def scaled(self, factor: float) -> Mix:
        return Mix(
            self.loads * factor,
            self.stores * factor,
            self.alu * factor,
            self.mac * factor,
            self.branches * factor,
        )


@dataclass(frozen=True)
class Core:
    """How one core turns an instruction mix into cycles."""

    name: str
    load_cycles: float  # per load (single issue)
    branch_cycles: float  # per taken branch (single issue)
    dual_issue: bool

    def cycles(self, mix: Mix) -> float:
        if not self.dual_issue:
            return (
                mix.loads * self.load_cycles
                + mix.stores
                + mix.alu
                + mix.mac
                + mix.branches * self.branch_cycles
            )
        total = mix.loads + mix.stores + mix.alu + mix.mac + mix.branches
        return max(mix.mac, mix.loads + mix.stores, total / 2)


CORES: dict[str, Core] = {
    # Cortex-M4 TRM (ARM DDI 0439B) 3.3.1: LDR 2 cycles, neighbouring loads pipeline; branch
    # 1 + P (P = 1..3 refill cycles: 1 assumed with the prefetch unit's branch speculation).
    "cortex-m4": Core("cortex-m4", load_cycles=1.5, branch_cycles=2.0, dual_issue=False),
    # Cortex-M7 TRM (ARM DDI 0489): dual-issue superscalar, one MAC pipeline, one load/store
    # port per cycle for 32-bit loads, branch target address cache.
    "cortex-m7": Core("cortex-m7", load_cycles=1.0, branch_cycles=0.0, dual_issue=True),
}

REQUANTIZE = Mix(loads=1.5, stores=1.0, alu=19.0)

# Per unit of work: see the module doc for what each unit is and where it was counted.
KERNELS: dict[str, tuple[Mix, float]] = {
    # name: (mix, units of work the mix covers)
    "conv_mac": (Mix(loads=6, alu=5, mac=8, branches=1), 16),
    "pointwise_mac": (Mix(loads=4, alu=8.25, mac=8, branches=0.25), 16),
    "depthwise_mac": (Mix(loads=2, alu=4 + 1 / 3, mac=4, branches=1 / 3), 4),
    "fc_mac": (Mix(loads=3, alu=7, mac=4, branches=1), 8),
    "im2col_element": (Mix(loads=2, stores=3, alu=3, branches=1), 4),
    "requantize_output": (REQUANTIZE, 1),
    "add_element": (Mix(loads=0.5, stores=0.25, alu=3 * 16 + 8, branches=0.25), 1),
    "avgpool_element": (Mix(loads=2, stores=1, alu=2, branches=1), 1),
    "maxpool_element": (Mix(loads=2, stores=1, alu=10, branches=1), 4),
    "sum_element": (Mix(loads=1, alu=1.25, branches=0.25), 1),
    "softmax_element": (Mix(loads=3, stores=1, alu=60, branches=3), 1),
    "copy_byte": (Mix(loads=1, stores=1, alu=1, branches=1), 4),
    "lut_element": (Mix(loads=1.25, stores=0.25, alu=4, branches=0.25), 1),
    "resample_tap": (Mix(loads=1, alu=2, mac=1), 1),
    "resample_output": (Mix(stores=1, alu=4, branches=1), 1),
}


def kernel_cycles(core: Core, kernel: str, units: float) -> float:
    """Cycles ``core`` spends on ``units`` units of ``kernel``'s work."""
    mix, per = KERNELS[kernel]
    return core.cycles(mix) * units / per

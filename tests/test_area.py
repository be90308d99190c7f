"""The die-area model: the composition by hand, node scaling against the sourced table, the
held-out chips, and bad ``area`` sections."""

from __future__ import annotations

import pytest

from hwsim.area import NODES, area_of, average_power_w, node
from hwsim.errors import ProfileError
from hwsim.profile import load_profile


def test_components_by_hand():
    """A 4 x 4 int8 array with every per-primitive figure given (at the profile's node):
    MACs 16 x 100 um^2 x logic 2 = 3200 um^2; registers 16 x 7 B x 10 um^2 x 2 = 2240 um^2
    (int8 words: input, weight, shadow weight, 4-byte psum); vector 64 lanes x 50 um^2 x 2 =
    6400 um^2; SRAM (1 + 6 + 1 MiB buffers) x 0.5 um^2 = 4,194,304 um^2; uncore 10% of the sum
    + 1 mm^2."""
    profile = load_profile("tpu_edge").with_params(
        {
            "arch.rows": 4,
            "arch.cols": 4,
            "peak_macs_per_cycle.int8": 16,
            "area": {
                "tech_nm": 28,
                "mac_um2": {"int8": 100},
                "register_um2_per_byte": 10,
                "vector_lane_um2": 50,
                "sram_um2_per_byte": 0.5,
                "logic_overhead": 2,
                "uncore_fraction": 0.1,
                "fixed_mm2": 1,
            },
        }
    )
    parts = area_of(profile).components
    assert parts["mac_array"] == pytest.approx(3200e-6)
    assert parts["registers"] == pytest.approx(2240e-6)
    assert parts["vector"] == pytest.approx(6400e-6)
    assert parts["sram"] == pytest.approx(4194304 * 1e-6)
    core = (3200 + 2240 + 6400 + 4194304) * 1e-6
    assert parts["uncore"] == pytest.approx(0.1 * core + 1)


def test_node_table_rows_and_interpolation():
    """Table rows come back as given (e.g. TSMC N7's 0.027 um^2 bitcell); 12 nm lies between
    the 16 and 10 nm rows; outside 3-65 nm is an error naming area.tech_nm."""
    assert node(7).bitcell_um2 == pytest.approx(0.027)
    assert node(45).logic_vs_45nm == 1.0
    n12, n16, n10 = node(12), node(16), node(10)
    assert n10.bitcell_um2 < n12.bitcell_um2 < n16.bitcell_um2
    assert n10.logic_vs_45nm < n12.logic_vs_45nm < n16.logic_vs_45nm
    assert [n.nm for n in NODES] == sorted((n.nm for n in NODES), reverse=True)
    with pytest.raises(ProfileError, match=r"area\.tech_nm 180"):
        node(180)


@pytest.mark.parametrize(
    ("name", "published_mm2", "within"),
    [
        ("eyeriss", 12.25, 0.7),  # JSSC 2017: core 3.5 x 3.5 mm; held out (model +59%)
        ("gpu_h100", 814.0, 0.4),  # H100 whitepaper: 814 mm^2; held out (model +27%)
    ],
)
def test_held_out_die_areas(name, published_mm2, within):
    """Chips nothing was fitted on stay within the error docs/validation.md reports."""
    total = area_of(load_profile(name)).total_mm2
    assert abs(total / published_mm2 - 1) < within


def test_fitted_factors_reproduce_their_fitting_rows():
    """Not validation (these rows were fitted on, docs/validation.md): the two factors in
    hwsim.area are the ones benchmarks/area_validation.py derives, so a change to a primitive
    table without a refit fails here. TPU v1 (Jouppi et al., ISCA 2017): the matrix unit is 24%
    of a die under 331 mm^2; A100 (whitepaper): 826 mm^2. The factors are rounded to 3
    digits, hence 1%."""
    tpu = area_of(load_profile("tpu_v1"))
    matrix_unit = tpu.components["mac_array"] + tpu.components["registers"]
    assert matrix_unit == pytest.approx(0.24 * 331, rel=0.01)
    assert tpu.total_mm2 == pytest.approx(331, rel=0.01)
    assert area_of(load_profile("gpu_a100")).total_mm2 == pytest.approx(826, rel=0.01)


def test_a_bigger_array_or_buffer_costs_area():
    base = load_profile("tpu_edge")
    small = area_of(base.with_params({"arch.rows": 32, "peak_macs_per_cycle.int8": 2048}))
    big = area_of(base)
    assert big.components["mac_array"] == pytest.approx(2 * small.components["mac_array"])
    more_sram = area_of(base.with_params({"arch.filter_sram_bytes": 2 * 6291456}))
    assert more_sram.components["sram"] > big.components["sram"]


def test_sram_is_the_larger_of_the_buffers_and_the_on_chip_level():
    """tpu_edge declares no operand buffers (parameters and activations share its 8 MiB SRAM
    level): doubling the level doubles the SRAM area (16 MiB x 8 bits x the 28 nm bitcell /
    0.6), and declaring a 12 MiB filter buffer, larger than the level, makes the SRAM 12 MiB;
    a smaller level than the buffers changes nothing."""
    base = load_profile("tpu_edge")
    per_byte_mm2 = 8 * 0.127 / 0.6 / 1e6  # TSMC 28 nm HD 6T cell, 0.127 um^2 (IEDM)
    mib = 1048576
    assert area_of(base).components["sram"] == pytest.approx(8 * mib * per_byte_mm2)
    level = base.with_params({"memory.sram.capacity_bytes": 16 * mib})
    assert area_of(level).components["sram"] == pytest.approx(16 * mib * per_byte_mm2)
    buffer = base.with_params({"arch.filter_sram_bytes": 12 * mib})
    assert area_of(buffer).components["sram"] == pytest.approx(12 * mib * per_byte_mm2)
    small = buffer.with_params({"memory.sram.capacity_bytes": 4 * mib})
    assert area_of(small).components["sram"] == pytest.approx(12 * mib * per_byte_mm2)


def test_profiles_without_a_model_say_so():
    with pytest.raises(ProfileError, match="no 'area' section"):
        area_of(load_profile("cpu_x86_avx2"))
    with pytest.raises(ProfileError, match="no area model for cpu"):
        area_of(load_profile("cpu_x86_avx2").with_params({"area": {"tech_nm": 7}}))
    with pytest.raises(ProfileError, match="area"):
        load_profile("tpu_edge").with_params({"area.tech_nm": -1})


def test_average_power():
    """2 mJ per inference of which 0.5 mJ static, at 100 inferences/s, on tpu_edge (0.5 W
    static): 0.5 W + 1.5 mJ x 100/s = 0.65 W."""
    profile = load_profile("tpu_edge")
    assert average_power_w(profile, 2e-3, 0.5e-3, 100) == pytest.approx(0.65)

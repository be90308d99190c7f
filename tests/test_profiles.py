"""Hardware profile presets: each validates, builds and reproduces a hand-checked datasheet figure;
every number in them carries a source comment; bad profiles fail naming the file and the field."""

from __future__ import annotations

import copy
import itertools
import math
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from hwsim.errors import ProfileError
from hwsim.profile import Profile, _read_yaml, load_profile, profile_from_data
from hwsim.yamlio import StrictLoader

PRESETS_DIR = Path(__file__).parents[1] / "hw_profiles"
PRESET_FILES = sorted(PRESETS_DIR.glob("*.yaml"))
REQUIRED_PRESETS = {
    "cpu_x86_avx2",
    "cpu_arm_a76",
    "gpu_a100",
    "gpu_h100",
    "gpu_orin",
    "tpu_edge",
    "tpu_v1",
    "eyeriss",
    "fpga_zcu104",
}


def load(path: Path) -> Profile:
    return profile_from_data(_read_yaml(path), str(path))


def preset(name: str) -> Profile:
    return load(PRESETS_DIR / f"{name}.yaml")


def peak_macs_per_s(profile: Profile, precision: str) -> float:
    return profile.peak_macs_per_cycle[precision] * profile.clock_hz


# --- every preset -----------------------------------------------------------------------------


def test_required_presets_exist() -> None:
    assert {p.stem for p in PRESET_FILES} >= REQUIRED_PRESETS


@pytest.mark.parametrize("path", PRESET_FILES, ids=lambda p: p.stem)
def test_preset_validates_and_builds(path: Path) -> None:
    profile = load(path)
    assert profile.name == path.stem
    assert profile.source == str(path)
    assert profile.default_precision in profile.precisions
    assert profile.precisions <= set(profile.energy.mac_pj)


@pytest.mark.parametrize("path", PRESET_FILES, ids=lambda p: p.stem)
def test_memory_runs_from_small_cheap_to_unbounded_backing_store(path: Path) -> None:
    profile = load(path)
    levels = profile.memory
    if profile.hw_class != "mcu":  # a microcontroller's flash is all it has, and it is bounded
        assert math.isinf(levels[-1].capacity_bytes), "the last level is the backing store"
    inner = levels[:-1]
    assert all(math.isfinite(lvl.capacity_bytes) for lvl in inner)
    capacities = [lvl.capacity_bytes for lvl in inner]
    assert capacities == sorted(capacities)
    energies = [lvl.read_energy_pj_per_byte for lvl in levels]
    assert energies == sorted(energies)


@pytest.mark.parametrize("path", PRESET_FILES, ids=lambda p: p.stem)
def test_narrower_precisions_cost_no_more_energy_per_mac(path: Path) -> None:
    mac_pj = load(path).energy.mac_pj
    order = ["fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8", "int4"]
    present = [p for p in order if p in mac_pj]
    for wide, narrow in itertools.pairwise(present):
        if {wide, narrow} == {"fp16", "bf16"}:
            continue
        assert mac_pj[narrow] <= mac_pj[wide], (wide, narrow)


def _is_block_scalar_start(code: str) -> bool:
    return re.search(r":\s*[>|][-+]?\s*$", code) is not None


def _contains_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    if isinstance(value, list):
        return any(_contains_number(v) for v in value)
    if isinstance(value, dict):
        return any(_contains_number(v) for v in value.values())
    return False


_ENTRY = re.compile(r"^\s*(?:-\s+)?(?:[A-Za-z0-9_]+:\s+)?(?P<value>\S.*?)\s*$")


def numbers_without_source(text: str) -> list[str]:
    """Lines whose value is (or contains) a plain number but that carry no '# source' comment."""
    bad = []
    block_indent: int | None = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        indent = len(line) - len(line.lstrip())
        if block_indent is not None:
            if not line.strip() or indent > block_indent:
                continue  # inside a folded/literal string
            block_indent = None
        code, _, comment = line.partition("#")
        if not code.strip():
            continue
        if _is_block_scalar_start(code):
            block_indent = indent
            continue
        match = _ENTRY.match(code)
        if match is None:
            continue
        try:
            value = yaml.load(match["value"], Loader=StrictLoader)
        except yaml.YAMLError:
            continue
        if _contains_number(value) and len(comment.strip()) < 4:
            bad.append(f"{lineno}: {line.strip()}")
    return bad


@pytest.mark.parametrize("path", PRESET_FILES, ids=lambda p: p.stem)
def test_every_number_names_its_source(path: Path) -> None:
    assert numbers_without_source(path.read_text()) == []


def test_number_comment_check_catches_a_bare_number() -> None:
    text = "name: x\nclock_hz: 1.0e9\nmemory:\n  - capacity_bytes: 4096  # DS-1\n  - 7\n"
    assert numbers_without_source(text) == ["2: clock_hz: 1.0e9", "5: - 7"]
    assert numbers_without_source("description: >-\n  runs at: 5 GHz\nx: 1  # source\n") == []


# --- hand-checked figures, one or more per hardware class --------------------------------------


def test_cpu_x86_peaks_follow_from_cores_fma_units_and_lanes() -> None:
    cpu = preset("cpu_x86_avx2")
    arch = cpu.arch
    fp32_lanes = arch.vector_bits // 32
    assert (
        cpu.peak_macs_per_cycle["fp32"] == arch.cores * cpu.info["fma_units_per_core"] * fp32_lanes
    )
    assert cpu.peak_macs_per_cycle["fp32"] == 32
    assert cpu.info["int8_dot_product"] is False
    assert cpu.peak_macs_per_cycle["int8"] == 2 * cpu.peak_macs_per_cycle["fp32"]  # no VNNI
    assert "fp16" not in cpu.precisions
    assert cpu.execution_precision("fp16") == "fp32"


def test_cpu_arm_a76_sdot_gives_four_times_the_fp32_rate() -> None:
    cpu = preset("cpu_arm_a76")
    assert cpu.peak_macs_per_cycle["fp32"] == 4 * 2 * 4  # cores x FMA pipes x fp32 lanes
    assert cpu.peak_macs_per_cycle["int8"] == 4 * cpu.peak_macs_per_cycle["fp32"]
    assert cpu.info["int8_dot_product"] is True


@pytest.mark.parametrize(
    ("name", "precision", "datasheet_ops_per_s"),
    [
        ("gpu_a100", "fp16", 312e12),
        ("gpu_a100", "int8", 624e12),
        ("gpu_a100", "tf32", 156e12),
        ("gpu_a100", "fp32", 19.5e12),
        ("gpu_h100", "fp16", 989.4e12),
        ("gpu_h100", "fp8", 1978.9e12),
        ("gpu_h100", "fp32", 66.9e12),
        ("gpu_orin", "int8", 170e12 / 2),  # 170 sparse TOPS, dense is half
        ("gpu_orin", "fp32", 5.3e12),
    ],
)
def test_gpu_peaks_match_datasheet_tflops(
    name: str, precision: str, datasheet_ops_per_s: float
) -> None:
    macs_per_s = peak_macs_per_s(preset(name), precision)
    assert macs_per_s == pytest.approx(datasheet_ops_per_s / 2, rel=0.01)


@pytest.mark.parametrize(
    ("name", "backing_bytes_per_s"),
    [("gpu_a100", 2.039e12), ("gpu_h100", 3.35e12), ("gpu_orin", 204.8e9)],
)
def test_gpu_backing_store_bandwidth_matches_datasheet(
    name: str, backing_bytes_per_s: float
) -> None:
    gpu = preset(name)
    raw = _read_yaml(PRESETS_DIR / f"{name}.yaml")["memory"][-1]
    assert raw["bandwidth_bytes_per_s"] == pytest.approx(backing_bytes_per_s, rel=1e-3)
    sustained = gpu.memory[-1].bandwidth_bytes_per_cycle * gpu.clock_hz
    assert sustained == pytest.approx(backing_bytes_per_s * raw["efficiency"], rel=1e-9)


@pytest.mark.parametrize("name", ["gpu_a100", "gpu_h100", "gpu_orin"])
def test_gpus_have_2_4_sparse_tensor_cores(name: str) -> None:
    gpu = preset(name)
    assert "2:4" in gpu.sparsity_patterns
    assert gpu.info["tensor_core_sparse"] == ("2:4",)
    assert gpu.arch.cuda_graph is False


def test_tpu_edge_is_a_64x64_int8_array_of_4_tops() -> None:
    tpu = preset("tpu_edge")
    assert tpu.peak_macs_per_cycle == {"int8": 4096}
    assert tpu.default_precision == "int8"
    assert 2 * peak_macs_per_s(tpu, "int8") == pytest.approx(4e12, rel=0.03)
    assert tpu.memory[0].capacity_bytes == 8 * 2**20


def test_tpu_v1_matches_jouppi_isca_2017() -> None:
    tpu = preset("tpu_v1")
    assert tpu.peak_macs_per_cycle["int8"] == 65536
    assert 2 * peak_macs_per_s(tpu, "int8") == pytest.approx(92e12, rel=0.01)
    assert tpu.level("unified_buffer").capacity_bytes == 24 * 2**20
    assert tpu.arch.ofmap_sram_bytes == 4 * 2**20  # accumulators
    dram = tpu.level("weight_dram")
    assert dram.bandwidth_bytes_per_cycle * tpu.clock_hz == pytest.approx(34e9)
    assert tpu.energy.static_power_w == 28


def test_eyeriss_is_168_sixteen_bit_pes() -> None:
    eyeriss = preset("eyeriss")
    assert eyeriss.peak_macs_per_cycle == {"fp16": 168}
    assert eyeriss.arch.word_bytes == 2
    assert eyeriss.execution_precision("int8") == "fp16"  # int8 models run widened to 16 bits
    assert eyeriss.level("glb").capacity_bytes == 108 * 1024


@pytest.mark.parametrize("name", ["tpu_edge", "tpu_v1", "eyeriss"])
def test_systolic_array_shape_matches_peak(name: str) -> None:
    profile = preset(name)
    arch = profile.arch
    assert arch.rows * arch.cols == profile.peak_macs_per_cycle[profile.default_precision]
    assert arch.dataflow in {"ws", "os", "is"}


def test_fpga_int8_peak_is_two_macs_per_dsp() -> None:
    fpga = preset("fpga_zcu104")
    arch = fpga.arch
    assert arch.dsps == 1728
    assert fpga.peak_macs_per_cycle["int8"] == arch.dsps * arch.dsp_packing_int8
    assert fpga.memory[0].capacity_bytes == 38 * 2**20 / 8  # 11 Mb BRAM + 27 Mb URAM


# --- bad profiles fail naming the file and the field --------------------------------------------


@pytest.fixture
def good_data() -> dict[str, Any]:
    return _read_yaml(PRESETS_DIR / "tpu_edge.yaml")


def write(tmp_path: Path, data: dict[str, Any], name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def load_error(path: Path) -> str:
    with pytest.raises(ProfileError) as info:
        load(path)
    return str(info.value)


def test_bad_profile_fixture_is_good_before_mutation(tmp_path: Path, good_data: dict) -> None:
    assert load(write(tmp_path, good_data)).name == "tpu_edge"


def test_missing_required_field(tmp_path: Path, good_data: dict) -> None:
    del good_data["clock_hz"]
    message = load_error(path := write(tmp_path, good_data))
    assert str(path) in message
    assert "clock_hz" in message


def test_negative_bandwidth(tmp_path: Path, good_data: dict) -> None:
    good_data["memory"][1]["bandwidth_bytes_per_s"] = -5.0e8
    message = load_error(path := write(tmp_path, good_data))
    assert str(path) in message
    assert "memory/1/bandwidth_bytes_per_s" in message


def test_unknown_precision_key(tmp_path: Path, good_data: dict) -> None:
    good_data["peak_macs_per_cycle"]["int3"] = 8192
    message = load_error(path := write(tmp_path, good_data))
    assert str(path) in message
    assert "peak_macs_per_cycle" in message
    assert "int3" in message


def test_both_bandwidth_forms_on_one_level(tmp_path: Path, good_data: dict) -> None:
    good_data["memory"][0]["bandwidth_bytes_per_s"] = 9.6e10
    message = load_error(path := write(tmp_path, good_data))
    assert str(path) in message
    assert "field 'memory/0'" in message


def test_default_precision_not_in_peaks(tmp_path: Path, good_data: dict) -> None:
    good_data["default_precision"] = "fp16"
    message = load_error(path := write(tmp_path, good_data))
    assert str(path) in message
    assert "default_precision" in message


def test_precision_without_mac_energy(tmp_path: Path, good_data: dict) -> None:
    good_data["peak_macs_per_cycle"]["int4"] = 8192
    message = load_error(path := write(tmp_path, good_data))
    assert str(path) in message
    assert "energy/mac_pj" in message
    assert "int4" in message


def test_unquoted_sparsity_pattern_reads_as_written(tmp_path: Path, good_data: dict) -> None:
    # YAML 1.1 would read an unquoted 2:4 as the base-60 integer 124; the loader does not.
    text = yaml.safe_dump(good_data, sort_keys=False).replace("patterns: []", "patterns: [2:4]")
    path = tmp_path / "unquoted.yaml"
    path.write_text(text)
    assert load(path).sparsity_patterns == ("2:4",)


def test_duplicate_key_names_the_key_and_line(tmp_path: Path, good_data: dict) -> None:
    text = yaml.safe_dump(good_data, sort_keys=False)
    path = tmp_path / "dup.yaml"
    path.write_text(text + "clock_hz: 1.0e9\n")
    message = load_error(path)
    assert str(path) in message
    assert "duplicate key 'clock_hz'" in message
    assert f"line {len(text.splitlines()) + 1}" in message


def test_only_the_backing_store_may_be_unbounded(tmp_path: Path, good_data: dict) -> None:
    good_data["memory"][0]["capacity_bytes"] = None
    message = load_error(path := write(tmp_path, good_data))
    assert str(path) in message
    assert "memory/0/capacity_bytes" in message


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "syntax.yaml"
    path.write_text("name: broken\nhw_class: cpu\n  clock_hz: 1.0e9\n")
    message = load_error(path)
    assert str(path) in message
    assert "line 3" in message


def test_nonexistent_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"
    with pytest.raises(ProfileError, match=re.escape(str(path))):
        load_profile(path)
    with pytest.raises(ProfileError, match=re.escape(str(path))):
        _read_yaml(path)


def test_profile_data_is_not_mutated_by_building(good_data: dict) -> None:
    snapshot = copy.deepcopy(good_data)
    profile_from_data(good_data, "tpu_edge.yaml")
    assert good_data == snapshot


def test_every_arch_field_is_documented() -> None:
    """docs/profiles.md lists every key each class's typed arch section accepts."""
    from hwsim.costmodels.fpga_arch import FpgaOverlayArch, FpgaStreamingArch
    from hwsim.costmodels.registry import HW_CLASSES

    text = (Path(__file__).resolve().parents[1] / "docs" / "profiles.md").read_text()
    types = [c.arch for c in HW_CLASSES.values()] + [FpgaStreamingArch, FpgaOverlayArch]
    missing = [
        f"{t.__name__}.{key}" for t in types for key, *_ in t.field_docs() if f"`{key}`" not in text
    ]
    assert missing == []


def test_gpu_link_needs_bandwidth_and_latency_together() -> None:
    """A link with a bandwidth but no latency (or the reverse) is refused, not completed with a
    guess; null for both says the device has none (Orin)."""
    h100 = preset("gpu_h100")
    with pytest.raises(ProfileError, match="interconnect_latency_s"):
        h100.with_params({"arch.interconnect_latency_s": None})
    orin = preset("gpu_orin")
    with pytest.raises(ProfileError, match="interconnect_latency_s"):
        orin.with_params({"arch.interconnect_bandwidth_bytes_per_s": 1e11})
    with pytest.raises(ProfileError, match="memory_capacity_bytes"):
        h100.with_params({"arch.memory_capacity_bytes": 0})


def test_packaged_presets_read_alike_with_libyaml(tmp_path):
    """The presets are read with libyaml's parser (``PackagedLoader``): the same values as the
    strict pure-Python loader (1e9 a float, 2:4 a string), and a duplicate key still refused."""
    from hwsim.profile import preset_names, preset_path
    from hwsim.yamlio import PackagedLoader, StrictLoader, read_yaml

    for name in preset_names():
        text = preset_path(name).read_text()
        assert yaml.load(text, Loader=PackagedLoader) == yaml.load(text, Loader=StrictLoader)
    path = tmp_path / "p.yaml"
    path.write_text("clock_hz: 1e9\nratio: 2:4\nrows: 0x10\n")
    assert read_yaml(path, "profile", ProfileError, packaged=True) == {
        "clock_hz": 1e9,
        "ratio": "2:4",
        "rows": 16,
    }
    path.write_text("a: 1\na: 2\n")
    with pytest.raises(ProfileError, match="duplicate key 'a'"):
        read_yaml(path, "profile", ProfileError, packaged=True)


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        ("arch.rows", 1e300, "arch/rows"),  # a whole number, but rows x cols overflows
        ("clock_hz", 1e-300, "clock_hz"),  # cycles / clock overflows to infinity
        ("peak_macs_per_cycle.int8", 1e-300, "peak_macs_per_cycle/int8"),
        ("overhead.per_op_s", 1e300, "overhead/per_op_s"),
        ("memory.host.bandwidth_bytes_per_s", 1e31, "memory/1/bandwidth_bytes_per_s"),
    ],
)
def test_numbers_beyond_any_hardware_are_refused(key: str, value: float, field: str) -> None:
    """Each of these gave an infinite or NaN latency with exit 0 before it was bounded."""
    with pytest.raises(ProfileError, match=f"field '{field}': .* out of range"):
        load_profile("tpu_edge").with_params({key: value})


def test_integer_fields_are_bounded_and_stay_integers() -> None:
    with pytest.raises(ProfileError, match="arch/rows"):
        load_profile("tpu_edge").with_params({"arch.rows": 2**40})
    rows = load_profile("tpu_edge").with_params({"arch.rows": 64.0}).arch.rows
    assert rows == 64 and isinstance(rows, int)

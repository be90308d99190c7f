"""No input hangs hwsim or reaches a traceback: YAML bombs, hostile topologies and configs,
catastrophic regexes and huge shapes each fail fast with one line, or price correctly.

Each test runs under ``within(seconds)``, a guard that turns a hang into a failure: a
regression must not stall the suite, and the timeout is generous (not a speed target).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hwsim.compression.recipe import load_recipe
from hwsim.compression.spec import CompressionError
from hwsim.errors import ProfileError
from hwsim.profile import load_profile


@contextmanager
def within(seconds: int) -> Iterator[None]:
    def hung(signum, frame):
        raise AssertionError(f"still running after {seconds} s: an input hangs hwsim")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _one_line(exc: BaseException, *fragments: str) -> None:
    text = str(exc)
    assert "\n" not in text and len(text) < 400, text
    for fragment in fragments:
        assert fragment in text, text


# --- YAML: profiles and recipes share one loader ---------------------------------------------

BILLION_LAUGHS = "\n".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(
            f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]"
            for a, b in zip("abcdefgh", "bcdefghi", strict=True)
        ),
    ]
)

HOSTILE_YAML = {
    "alias_bomb": (BILLION_LAUGHS, "aliases"),
    "deep": ("a: " + "[" * 100_000 + "]" * 100_000, "nested deeper than"),
    "deep_block": ("".join(f"{'  ' * i}k{i}:\n" for i in range(2000)) + "  " * 2000 + "x", "deep"),
    "self_alias": ("a: &a [*a]", "contains it"),
    "python_tag": ("!!python/object/apply:builtins.open ['{marker}', 'w']", "not valid YAML"),
    "huge_int": ("a: " + "9" * 5000, "5000 digits"),
}


def _loaders():
    return [
        pytest.param(load_profile, ProfileError, id="profile"),
        pytest.param(load_recipe, CompressionError, id="recipe"),
    ]


@pytest.mark.parametrize(("load", "error"), _loaders())
@pytest.mark.parametrize("case", sorted(HOSTILE_YAML))
def test_hostile_yaml_fails_fast_in_one_line(tmp_path, load, error, case):
    text, fragment = HOSTILE_YAML[case]
    marker = tmp_path / "MARKER"
    path = tmp_path / f"{case}.yaml"
    path.write_text(text.replace("{marker}", str(marker)))
    with within(20), pytest.raises(error) as info:
        load(path)
    _one_line(info.value, str(path), fragment)
    assert not marker.exists()


@pytest.mark.parametrize(("load", "error"), _loaders())
def test_binary_yaml_is_one_line(tmp_path, load, error):
    path = tmp_path / "binary.yaml"
    path.write_bytes(bytes(range(128, 256)) * 16)
    with pytest.raises(error) as info:
        load(path)
    _one_line(info.value, str(path), "not UTF-8")


@pytest.mark.parametrize(("load", "error"), _loaders())
def test_nul_bytes_are_one_line(tmp_path, load, error):
    path = tmp_path / "nul.yaml"
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(error) as info:
        load(path)
    _one_line(info.value, str(path))


def test_a_few_aliases_still_load(tmp_path):
    """Aliases are bounded, not banned: a recipe sharing one spec through an anchor loads."""
    path = tmp_path / "anchored.yaml"
    path.write_text(
        "rules:\n"
        "  - {layers: 'conv', prune: &sparse '2:4', quant: int8}\n"
        "  - {layers: 'fc', prune: *sparse}\n"
    )
    rules = load_recipe(path)
    assert [r.prune.label for r in rules] == ["2:4", "2:4"]


def test_limits_are_far_above_real_files():
    """The largest preset is a small fraction of the node and depth limits."""
    import yaml

    from hwsim.yamlio import MAX_DEPTH, MAX_NODES, StrictLoader, _measure

    presets = Path(__file__).parents[1] / "hw_profiles"
    for path in presets.glob("*.yaml"):
        node = yaml.compose(path.read_text(), Loader=StrictLoader)
        size, height = _measure(node, 1, {}, set())
        assert size < MAX_NODES / 100 and height < MAX_DEPTH / 4, path


# --- SCALE-Sim topologies and configs ------------------------------------------------------

CONV_HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
CONV_HEADER += "Num Filter, Strides,\n"
GEMM_HEADER = "Layer, M, N, K,\n"


@pytest.mark.parametrize(
    ("header", "row", "fragments"),
    [
        (CONV_HEADER, "c1,16,16,-3,3,8,16,1,", ("line 2", "Filter Height is -3")),
        (CONV_HEADER, "c1,16,16,3,3,0,16,1,", ("Channels is 0",)),
        (CONV_HEADER, "c1,16,16,3,3,-8,16,1,", ("Channels is -8",)),
        (CONV_HEADER, "c1,16,16,3,3,8,16,0,", ("Strides is 0",)),
        (CONV_HEADER, "c1,16,16,17,3,8,16,1,", ("filter 17x3 is larger than its 16x16",)),
        (CONV_HEADER, "c1,16,16,3.5,3,8,16,1,", ("Filter Height '3.5' is not an integer",)),
        (CONV_HEADER, "c1,16,sixteen,3,3,8,16,1,", ("IFMAP Width 'sixteen'",)),
        (CONV_HEADER, "c1,16,16,3,3,8,", ("5 values, expected 7",)),
        (CONV_HEADER, "c1,100000000,100000000,3,3,8,16,1,", ("IFMAP Height 100000000",)),
        (CONV_HEADER, "c1,65536,65536,3,3,64,64,1,", ("ifmap would hold",)),
        (GEMM_HEADER, "g1,-4,8,8,", ("M is -4",)),
        (GEMM_HEADER, "g1,4,0,8,", ("N is 0",)),
        (GEMM_HEADER, "g1,1000000,1000000,1,", ("would hold",)),
        (GEMM_HEADER, "g1,100000000,8,8,", ("M 100000000 is larger",)),
    ],
)
def test_bad_topology_row_names_line_and_column(tmp_path, header, row, fragments):
    from hwsim.errors import ModelLoadError
    from hwsim.frontend.scalesim_topology import graph_from_topology

    path = tmp_path / "topology.csv"
    path.write_text(header + row + "\n")
    with within(20), pytest.raises(ModelLoadError) as info:
        graph_from_topology(path)
    _one_line(info.value, str(path), *fragments)


def test_topology_errors_count_lines_past_blank_ones(tmp_path):
    from hwsim.errors import ModelLoadError
    from hwsim.frontend.scalesim_topology import graph_from_topology

    path = tmp_path / "topology.csv"
    path.write_text(GEMM_HEADER + "g1,8,8,8,\n\ng2,8,8,x,\n")
    with pytest.raises(ModelLoadError) as info:
        graph_from_topology(path)
    _one_line(info.value, "line 4 (layer 'g2')", "K 'x'")


@pytest.mark.parametrize(
    "content", [bytes(range(256)) * 8, b"Layer, M, N, K,\ng1,8,8,8\x00\n"], ids=["binary", "nul"]
)
def test_binary_topology_is_one_line(tmp_path, content):
    from hwsim.errors import ModelLoadError
    from hwsim.frontend.scalesim_topology import graph_from_topology

    path = tmp_path / "topology.csv"
    path.write_bytes(content)
    with pytest.raises(ModelLoadError) as info:
        graph_from_topology(path)
    _one_line(info.value, str(path), "not a text topology")


def test_large_but_valid_conv_prices_quickly(tmp_path):
    """A 4096 x 4096 ifmap: SCALE-Sim's rounded-up windows counted in closed form (the
    per-tap loop this replaced took minutes at this size). Taps hand-counted: 4096 rows, 3-tap
    windows at stride 2 give ceil(4095/2) = 2048 outputs, the last of which starts at row
    4094 and covers 2 rows, so 2047 x 3 + 2 = 6143 of 2048 x 3 taps are valid."""
    from hwsim.frontend.scalesim_topology import graph_from_topology

    path = tmp_path / "topology.csv"
    path.write_text(CONV_HEADER + "big,4096,4096,3,3,4,4,2,\n")
    with within(20):
        op = next(iter(graph_from_topology(path)))
    assert op.attr("scalesim_valid_fraction") == pytest.approx((6143 / 6144) ** 2)


def test_topology_of_too_many_layers_is_refused_before_pricing(tmp_path):
    """5,000 tiny GEMM rows took 3 s of CPU to price; a 64 MiB file of two million would take
    tens of minutes. Past 20,000 layers the file is refused as it is read."""
    from hwsim.errors import ModelLoadError
    from hwsim.frontend.scalesim_topology import graph_from_topology

    path = tmp_path / "many.csv"
    path.write_text(GEMM_HEADER + "".join(f"g{i},8,8,8,\n" for i in range(20_001)))
    with within(20), pytest.raises(ModelLoadError) as info:
        graph_from_topology(path)
    _one_line(info.value, str(path), "20,001 layers", "split the file")


def _cfg(body: str) -> str:
    base = {
        "general": {"run_name": "x"},
        "architecture_presets": {
            "ArrayHeight": "8",
            "ArrayWidth": "8",
            "IfmapSramSzkB": "2",
            "FilterSramSzkB": "2",
            "OfmapSramSzkB": "2",
            "Bandwidth": "4",
            "Dataflow": "ws",
        },
        "layout": {"IfmapSRAMBankBandwidth": "2", "FilterSRAMBankBandwidth": "2"},
        "run_presets": {"InterfaceBandwidth": "USER"},
    }
    for line in body.splitlines():
        section, _, assignment = line.partition(".")
        key, _, value = assignment.partition("=")
        if key == "*":
            base.pop(section)
        else:
            base[section][key] = value
    return "\n".join(
        f"[{section}]\n" + "".join(f"{k} : {v}\n" for k, v in entries.items())
        for section, entries in base.items()
    )


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        ("architecture_presets.ArrayHeight=eight", ("ArrayHeight = 'eight' is not a whole",)),
        ("architecture_presets.ArrayHeight=0", ("ArrayHeight = 0 must lie in 1..",)),
        ("architecture_presets.ArrayWidth=8.5", ("ArrayWidth = '8.5'",)),
        ("architecture_presets.ArrayWidth=1000000", ("ArrayWidth = 1000000",)),
        ("architecture_presets.IfmapSramSzkB=-2", ("IfmapSramSzkB = -2",)),
        ("layout.IfmapSRAMBankBandwidth=nan", ("IfmapSRAMBankBandwidth = nan must be a finite",)),
        ("layout.FilterSRAMBankBandwidth=inf", ("FilterSRAMBankBandwidth = inf",)),
        ("layout.FilterSRAMBankBandwidth=-1", ("FilterSRAMBankBandwidth = -1",)),
        ("architecture_presets.Bandwidth=1e400", ("Bandwidth = 1e400",)),
        ("architecture_presets.Dataflow=xx", ("Dataflow 'xx'",)),
        ("run_presets.InterfaceBandwidth=FAST", ("InterfaceBandwidth must be USER or CALC",)),
        ("layout.*", ("no [layout] section",)),
        ("architecture_presets.*", ("no [architecture_presets] section",)),
        ("general.run_name=100%", ()),
    ],
)
def test_bad_cfg_is_one_line(tmp_path, change, fragments):
    path = tmp_path / "array.cfg"
    path.write_text(_cfg(change))
    if not fragments:  # valid: a '%' in a name is no interpolation error
        assert load_profile(path).name == "100_"
        return
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    _one_line(info.value, str(path), *fragments)


@pytest.mark.parametrize(
    "content", [bytes(range(128, 256)) * 8, b"no section header\n"], ids=["binary", "no-section"]
)
def test_unreadable_cfg_is_one_line(tmp_path, content):
    path = tmp_path / "array.cfg"
    path.write_bytes(content)
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    _one_line(info.value, str(path))


# --- layer regexes -----------------------------------------------------------------------

LAYER_NAMES = [
    "conv1",
    "layer3.0.downsample.0",
    "features.12.conv.1.0",
    "transformer.h.11.attn.c_attn",
    "classifier/linear_3",
    "encoder.layers.0.self_attn.out_proj",
    "fc",
    "a.fc.b",
    "",
]
ORDINARY_PATTERNS = [
    r"^conv1$|classifier",
    r"layer[34]",
    r"features\.\d+",
    r".*attn.*",
    r"(?i)CONV",
    r"\bfc\b",
    r"h\.(1[01]|[0-9])\.",
    r"^(encoder|decoder)\.layers\.\d{1,2}\.",
    r"[^.]+_proj$",
    r"downsample\.0?",
    r"(?x) conv  \d  # with verbose",
]


@pytest.mark.parametrize("pattern", ORDINARY_PATTERNS)
def test_layer_patterns_match_as_re_search_does(pattern):
    """The linear-time matcher agrees with ``re.search`` on the patterns people write."""
    import re

    from hwsim.compression.spec import Rule

    rule = Rule(layers=pattern, skip=True)
    for name in LAYER_NAMES:
        assert rule.matches(name) == bool(re.search(pattern, name)), (pattern, name)


LONG_NAME = "encoder.layers.11.self_attention.query_key_value.weight_abcdefg" * 3


@pytest.mark.parametrize(
    ("pattern", "name"),
    [
        (r"^([\w.]+)+!$", LONG_NAME),
        (r"^(a|a)*$", "a" * 60 + "!"),
        (r"(\w+\.?)*!", LONG_NAME),
        (r".*a.*b.*c.*d.*e.*f.*g!", LONG_NAME),
    ],
)
def test_catastrophic_patterns_return_promptly(pattern, name):
    """Each takes longer than a lifetime with ``re`` on such a name (exponential or
    seventh-power backtracking); the Pike VM answers at once."""
    from hwsim.compression.spec import Rule

    with within(10):
        assert not Rule(layers=pattern, skip=True).matches(name)


def test_catastrophic_layers_flag_on_a_model_is_one_line(graph_of):
    from hwsim.compression import compress
    from hwsim.compression.spec import parse_variant

    with within(30), pytest.raises(CompressionError) as info:
        compress(graph_of("resnet18"), parse_variant("int8", layers=r"^([\w.]+)+!$").rules)
    _one_line(info.value, "matches no op")


@pytest.mark.parametrize(
    ("pattern", "fragment"),
    [
        (r"(a)\1", "back-references"),
        (r"(?<=layer)1", "look-arounds"),
        (r"x{100000}", "steps"),
        (r"[", "is not a regex"),
    ],
)
def test_unsupported_layer_patterns_are_one_line(pattern, fragment):
    from hwsim.compression.spec import parse_variant

    with pytest.raises(CompressionError) as info:
        parse_variant("int8", layers=pattern)
    _one_line(info.value, "--layers", fragment)


# --- shapes priced without allocating ----------------------------------------------------


def test_huge_batch_is_priced_from_shapes(graph_of):
    """Batch 10^7 of 224 x 224 images is 6 TB of input: traced with fake tensors it costs
    what batch 1 costs, and every count scales by exactly 10^7."""
    import hwsim

    with within(120):
        graph = hwsim.trace("resnet18", batch=10_000_000)
    assert graph.info.batch == 10_000_000
    assert graph.macs == graph_of("resnet18").macs * 10_000_000


def test_huge_image_is_priced_from_shapes():
    """A 100000 x 100000 image (120 GB as float32), counted against FlopCounterMode run on
    fake tensors of the same shape (an independent count that allocates nothing either)."""
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.utils.flop_counter import FlopCounterMode

    import hwsim
    from hwsim.workloads import get_workload

    model = get_workload("resnet18").build().eval()
    with within(120):
        graph = hwsim.trace(model, input_shapes="1,3,100000,100000")
    with FakeTensorMode(allow_non_fake_inputs=True), FlopCounterMode(display=False) as fc:
        model(torch.empty(1, 3, 100_000, 100_000))
    assert graph.macs == fc.get_total_flops() // 2


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--input-shape", ""], "--input-shape '': empty"),
        (["--input-shape", "1,3,99999999999,99999999999"], "overflow"),
    ],
)
def test_shape_flags_are_one_line(hwsim_cli, args, fragment):
    code, _, err = hwsim_cli("estimate", "resnet18", "--hw", "tpu_edge", *args)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and fragment in lines[0], err


def test_overlong_model_path_is_one_line(hwsim_cli):
    code, _, err = hwsim_cli("estimate", "m" * 300 + ".pt2", "--hw", "tpu_edge")
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "not a usable path" in lines[0], err


# --- hwsim llm: a config.json is an input like any other --------------------------------------


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),  # was RecursionError, exit 3
        ('{"model_type": "llama", "rope_theta": NaN}', "NaN is not a JSON number"),
        (b"\x80\x81" * 64, "cannot read the config"),
        ("[1, 2]", "must hold a JSON object"),
    ],
    ids=["deep", "nan", "binary", "list"],
)
def test_hostile_llm_config_is_one_line(hwsim_cli, tmp_path, content, fragment):
    path = tmp_path / "config.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with within(20):
        code, _, err = hwsim_cli(
            "llm", str(path), "--hw", "gpu_a100", "--prompt", "8", "--gen", "2"
        )
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and fragment in lines[0], err


def test_overlong_llm_model_path_is_one_line(hwsim_cli):
    code, _, err = hwsim_cli("llm", "m" * 300, "--hw", "gpu_a100", "--prompt", "8", "--gen", "2")
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "not a usable path" in lines[0], err

"""``hwsim sweep``: rows equal ``hwsim estimate --set``, resumable runs, Pareto fronts, Dask,
Optuna, the report, and one-line spec errors."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from hwsim.profile import load_profile
from hwsim.sweep import build_payload, load_spec, run_sweep
from hwsim.sweep.derive import FormulaError, parse_formula
from hwsim.sweep.pareto import non_dominated


class Net(nn.Module):
    """Convs and a GEMM whose shapes fold differently on different arrays."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 24, 3, padding=1)
        self.c2 = nn.Conv2d(24, 40, 3, stride=2, padding=1)
        self.fc = nn.Linear(40, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.c2(torch.relu(self.c1(x))))
        return self.fc(y.mean((2, 3)))


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sweep") / "net.pt2"
    program = torch.export.export(Net().eval(), (torch.zeros(1, 3, 32, 32),))
    torch.export.save(program, str(path))
    return path


def write_spec(folder: Path, model: Path, **extra: object) -> Path:
    spec = {
        "base": "tpu_edge",
        "workloads": [str(model)],
        "params": {"arch.rows": [8, 16, 32], "arch.cols": [8, 32], "clock_hz": [5.0e8, 1.0e9]},
        "derived": {"peak_macs_per_cycle.int8": "arch.rows * arch.cols"},
        **extra,
    }
    path = folder / "spec.yaml"
    path.write_text(json.dumps(spec))  # JSON is YAML
    return path


def test_rows_equal_hwsim_estimate_with_set(tmp_path, model, hwsim_cli):
    """Every row is what ``hwsim estimate MODEL --hw BASE --set KEY=VALUE ...`` prints for
    that point (checked on four points of both variants), and area/power are filled in."""
    spec = load_spec(write_spec(tmp_path, model, variants=["dense", "int8"]))
    rows = run_sweep(spec, tmp_path / "out", workers=0).rows
    assert len(rows) == 12 * 2 and rows["area_mm2"].gt(0).all() and rows["power_w"].gt(0).all()
    for _, row in rows[rows["point"].isin([0, 5, 6, 11])].iterrows():
        sets = [
            f"--set={key}={row[key]:g}"
            for key in ("arch.rows", "arch.cols", "clock_hz", "peak_macs_per_cycle.int8")
        ]
        quant = ["--quant", "int8"] if row["variant"] == "int8" else []
        code, out, err = hwsim_cli(
            "estimate", str(model), "--hw", "tpu_edge", *sets, *quant, "--format", "json"
        )
        assert code in (0, None), err
        data = json.loads(out)
        total = (data[0] if isinstance(data, list) else data)["total"]
        assert row["latency_s"] == pytest.approx(total["latency_s"], rel=1e-12)
        assert row["energy_j"] == pytest.approx(total["energy_j"], rel=1e-12)


def test_interrupted_sweep_resumes_where_it_stopped(tmp_path, model):
    """A run killed after its first chunk leaves that chunk on disk; the next run prices only
    the other points, and the result equals an uninterrupted run's."""
    spec = load_spec(write_spec(tmp_path, model))
    payload = build_payload(spec)
    calls = []

    def stop_after_first_chunk(done: int, total: int) -> None:
        calls.append(done)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(
            spec, tmp_path / "out", workers=0, progress=stop_after_first_chunk, payload=payload
        )
    first = calls[1]
    assert 0 < first < 12
    resumed = run_sweep(spec, tmp_path / "out", workers=0, payload=payload)
    assert resumed.priced == 12 - first and resumed.points == 12
    fresh = run_sweep(spec, tmp_path / "fresh", workers=0, payload=payload)
    pd.testing.assert_frame_equal(resumed.rows, fresh.rows)
    again = run_sweep(spec, tmp_path / "out", workers=0, payload=payload)
    assert again.priced == 0


def test_another_spec_does_not_mix_into_an_outdir(tmp_path, model, hwsim_cli):
    spec = write_spec(tmp_path, model)
    run_sweep(load_spec(spec), tmp_path / "out", workers=0)
    other = write_spec(tmp_path, model, batch=[2])
    code, _, err = hwsim_cli("sweep", str(other), "-o", str(tmp_path / "out"), "--workers", "0")
    assert code == 2 and "different sweep spec" in err and len(err.strip().splitlines()) == 1


def test_an_edited_base_profile_does_not_resume_into_old_rows(tmp_path, model, hwsim_cli):
    """The spec names a profile file; once its numbers change, the rows on disk are stale:
    the same spec and -o directory are refused, before anything is traced."""
    import yaml

    data = load_profile("tpu_edge").to_data()
    base = tmp_path / "edge.yaml"
    base.write_text(yaml.safe_dump(data))
    spec = write_spec(tmp_path, model, base="edge.yaml")
    run_sweep(load_spec(spec), tmp_path / "out", workers=0)
    data["energy"]["static_power_w"] = 0.25
    base.write_text(yaml.safe_dump(data))
    code, _, err = hwsim_cli("sweep", str(spec), "-o", str(tmp_path / "out"), "--workers", "0")
    assert code == 2 and "base profile or model file" in err and len(err.strip().splitlines()) == 1


def test_dask_workers_price_the_same_rows(tmp_path, model):
    """The Dask path (payload scattered once, chunks as tasks) gives the in-process rows; an
    in-process LocalCluster stands in for a remote scheduler here (--scheduler ADDRESS)."""
    from dask.distributed import LocalCluster

    spec = load_spec(write_spec(tmp_path, model))
    payload = build_payload(spec)
    local = run_sweep(spec, tmp_path / "local", workers=0, payload=payload).rows
    with LocalCluster(n_workers=2, processes=False, dashboard_address=None) as cluster:
        remote = run_sweep(
            spec, tmp_path / "dask", scheduler=cluster.scheduler_address, payload=payload
        ).rows
    pd.testing.assert_frame_equal(local, remote)


def test_constraints_feasible_and_pareto(tmp_path, model):
    """Feasible rows meet every constraint; the front is exactly the feasible rows no other
    feasible row dominates, checked by brute force."""
    spec = load_spec(write_spec(tmp_path, model, constraints={"area_mm2": "<= 38"}))
    rows = run_sweep(spec, tmp_path / "out", workers=0).rows
    assert rows["feasible"].tolist() == (rows["area_mm2"] <= 38).tolist()
    assert 0 < rows["feasible"].sum() < len(rows)
    ok = rows[rows["feasible"]]
    values = ok[["latency_s", "energy_j", "area_mm2"]].to_numpy()
    brute = [not any((other <= v).all() and (other < v).any() for other in values) for v in values]
    assert ok["pareto"].tolist() == brute
    assert not rows.loc[~rows["feasible"], "pareto"].any()


def test_non_dominated_hand_example():
    """(1,3) (2,2) (3,1) trade off; (2,3) is dominated by (2,2); a repeat of a front point
    stays on the front (neither is better)."""
    values = np.array([[1, 3], [2, 2], [3, 1], [2, 3], [2, 2]], dtype=float)
    assert non_dominated(values, block=2).tolist() == [True, True, True, False, True]


def test_pareto_by_hand_per_case_among_feasible_rows():
    """Workload a: (1, 1, 3) and (2, 2, 1) trade area for speed; (1, 1, 4) is dominated by
    (1, 1, 3); (0.5, 0.5, 0.5) would dominate everything but breaks a constraint, so it is
    neither on the front nor allowed to push others off it. Workload b is ranked on its own:
    two equal rows both stay, and (4, 1, 9) trades latency for energy."""
    from hwsim.sweep.pareto import pareto

    frame = pd.DataFrame(
        {
            "workload": ["a", "a", "a", "a", "b", "b", "b"],
            "variant": ["dense"] * 7,
            "batch": [1] * 7,
            "latency_s": [1, 2, 1, 0.5, 3, 3, 4],
            "energy_j": [1, 2, 1, 0.5, 3, 3, 1],
            "area_mm2": [3, 1, 4, 0.5, 3, 3, 9],
        }
    )
    ok = np.array([True, True, True, False, True, True, True])
    assert pareto(frame, ok).tolist() == [True, True, False, False, True, True, True]


def test_random_and_optuna_sampling(tmp_path, model):
    """random:N prices N distinct grid points; optuna:N asks N trials of NSGA-II (repeats are
    answered from earlier rows), and a rerun has nothing left to do."""
    random = load_spec(write_spec(tmp_path, model, sample="random:5", seed=3))
    rows = run_sweep(random, tmp_path / "random", workers=0).rows
    assert rows["point"].nunique() == 5
    optuna_spec = load_spec(write_spec(tmp_path, model, sample="optuna:10"))
    result = run_sweep(optuna_spec, tmp_path / "optuna", workers=0)
    assert 2 <= result.points <= 10 and result.priced == result.points
    assert run_sweep(optuna_spec, tmp_path / "optuna", workers=0).priced == 0


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ({"sampel": "grid"}, "sampel"),
        ({"params": {"arch.rowz": [8]}}, "params.arch.rowz"),
        ({"params": {"arch.rows": [0]}}, "params.arch.rows"),
        ({"params": {"arch.rows": [8, 8]}}, "params.arch.rows"),
        ({"sample": "sobol:5"}, "sample"),
        ({"sample": "random:99"}, "sample"),
        ({"constraints": {"area_mm2": "about 3"}}, "constraints.area_mm2"),
        ({"constraints": {"speed": "<= 3"}}, "constraints.speed"),
        ({"derived": {"peak_macs_per_cycle.int8": "arch.rows * arch.depth"}}, "derived"),
        ({"derived": {"peak_macs_per_cycle.int8": "__import__('os')"}}, "derived"),
        ({"variants": ["int3"]}, "variants"),
        ({"batch": [0]}, "batch"),
        ({"base": "no_such_profile"}, "base"),
        ({"workloads": ["resnet18", "no_such_net"]}, "workloads"),
        ({"workloads": ["missing.pt2"]}, "workloads"),
        ({"workloads": ["mobilenet_v1:0.3_224"]}, "workloads"),
        # 9 ** 9 ** 9 is exact integer arithmetic for hours: exponents are bounded
        ({"derived": {"clock_hz": "9 ** 9 ** 9"}}, "derived.clock_hz"),
    ],
)
def test_spec_errors_are_one_line_naming_the_key(tmp_path, model, hwsim_cli, extra, key):
    spec = write_spec(tmp_path, model, **extra)
    code, _, err = hwsim_cli("sweep", str(spec), "-o", str(tmp_path / "out"), "--workers", "0")
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, err
    assert f"key '{key}" in lines[0]


def test_area_constraint_needs_an_area_model(tmp_path, model, hwsim_cli):
    spec = tmp_path / "cpu.yaml"
    spec.write_text(
        json.dumps(
            {
                "base": "cpu_x86_avx2",
                "workloads": [str(model)],
                "params": {"clock_hz": [1e9]},
                "constraints": {"area_mm2": "<= 3"},
            }
        )
    )
    code, _, err = hwsim_cli("sweep", str(spec), "-o", str(tmp_path / "out"))
    assert code == 2 and "constraints.area_mm2" in err and "no area model" in err


def test_formulas_are_arithmetic_only():
    formula = parse_formula(
        "k", "arch.rows * (arch.cols + 2) // 4", frozenset({"arch.rows", "arch.cols"})
    )
    assert formula({"arch.rows": 16, "arch.cols": 30}) == 16 * 32 // 4
    for text in ("open('x')", "arch.rows.__class__", "[1, 2]", "1 if 2 else 3"):
        with pytest.raises(FormulaError):
            parse_formula("k", text, frozenset({"arch.rows"}))


def test_a_pickled_profile_carries_no_cached_hash():
    """Workers are other processes, whose string hashes differ: a hash cached in the driver
    would be wrong there, so a profile (and its FrozenDicts) must rehash after unpickling. A
    stale cached hash stands in for the driver's here: it must not travel."""
    profile = load_profile("tpu_edge")
    fresh = load_profile("tpu_edge")
    hash(profile)
    profile.__dict__["_hash"] = hash(fresh) + 1  # what another process's seed gives
    table = profile.energy.mac_pj
    table._hash = hash(table) + 1  # type: ignore[attr-defined]
    theirs = pickle.loads(pickle.dumps(profile))
    assert theirs == fresh and hash(theirs) == hash(fresh)
    assert hash(theirs.energy.mac_pj) == hash(fresh.energy.mac_pj)


def test_cli_ctrl_c_resume_tables_report_plots_and_summary(tmp_path, model, hwsim_cli, monkeypatch):
    """The user's path through the CLI. Ctrl-C after the first chunk: one line saying how many
    points are on disk, exit 130. The same command again prices only the rest and writes the
    tables, a self-contained report (images inline, nothing fetched, no scripts), the plots as
    PNG and SVG, and a one-line summary on stderr."""
    from hwsim.sweep import store

    write_part, calls = store.write_part, []

    def interrupted_after_one(*args: object, **kwargs: object) -> None:
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        write_part(*args, **kwargs)  # type: ignore[arg-type]

    spec = write_spec(tmp_path, model, constraints={"power_w": "<= 100"})
    out = tmp_path / "out"
    monkeypatch.setattr(store, "write_part", interrupted_after_one)
    code, _, err = hwsim_cli("sweep", str(spec), "-o", str(out), "--workers", "0")
    done = len(store.done_points(out))
    assert code == 130 and 0 < done < 12
    assert err.strip() == (
        f"interrupted: {done} design points are on disk in {out / 'parts'}; run the same "
        "command again to resume"
    )
    monkeypatch.setattr(store, "write_part", write_part)
    code, stdout, err = hwsim_cli("sweep", str(spec), "-o", str(out), "--workers", "0")
    assert code in (0, None), err
    assert f"12 design points ({12 - done} priced now), 12 rows, 12 feasible" in err
    assert stdout == ""
    frame = pd.read_csv(out / "results.csv")
    assert list(frame.columns[:4]) == [
        "arch.rows",
        "arch.cols",
        "clock_hz",
        "peak_macs_per_cycle.int8",
    ]
    for name in ("workload", "variant", "batch", "latency_s", "energy_j", "area_mm2", "power_w"):
        assert name in frame.columns
    assert frame["feasible"].all() and frame["pareto"].any()
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2  # front and main effects
    assert "http://" not in page and "https://" not in page and "<script" not in page
    for key in ("arch.rows", "arch.cols", "clock_hz"):
        assert key in page
    plots = {p.name for p in (out / "plots").iterdir()}
    assert {"pareto_net.pt2_dense_b1.png", "pareto_net.pt2_dense_b1.svg"} <= plots
    assert {"sensitivity_net.pt2_dense_b1.png", "sensitivity_net.pt2_dense_b1.svg"} <= plots


def test_pricing_graph_prices_like_the_traced_graph(model):
    """Dropping the program and weights changes nothing pricing reads; with unstructured
    zero-skipping on the array, the weights are kept (counted per column tile) and the price
    still matches, while without them it would not be the same computation."""
    import hwsim
    from hwsim.compression import compress, parse_variant
    from hwsim.estimate import price
    from hwsim.sweep.evaluate import pricing_graph

    graph = compress(hwsim.trace(str(model)), parse_variant("0.8", ".*").rules)
    zero_skipping = load_profile("tpu_edge").with_params({"sparsity.patterns": ["unstructured"]})
    for profile, keep in ((load_profile("tpu_edge"), False), (zero_skipping, True)):
        light = pricing_graph(graph, keep_weights=keep)
        assert light.program is None
        assert price(light, profile).total == price(graph, profile).total
    assert (
        len(pickle.dumps(pricing_graph(graph, keep_weights=False))) < len(pickle.dumps(graph)) / 4
    )


def test_unreachable_scheduler_is_one_line_before_any_tracing(
    tmp_path, model, hwsim_cli, monkeypatch
):
    monkeypatch.setattr("hwsim.sweep.run.CONNECT_TIMEOUT_S", 1.0)  # 10 s for users
    spec = write_spec(tmp_path, model)
    code, _, err = hwsim_cli(
        "sweep", str(spec), "-o", str(tmp_path / "out"), "--scheduler", "tcp://127.0.0.1:9"
    )
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "--scheduler tcp://127.0.0.1:9" in lines[0], err


def test_a_point_the_profile_refuses_is_one_line_naming_it(tmp_path, model, hwsim_cli):
    """The spec checks each value and the formulas at the first point; a later combination
    that breaks (here a division by zero at rows = 8) names the point."""
    spec = write_spec(
        tmp_path,
        model,
        params={"arch.rows": [16, 8]},
        derived={"arch.filter_sram_bytes": "1048576 // (arch.rows - 8)"},
    )
    code, _, err = hwsim_cli("sweep", str(spec), "-o", str(tmp_path / "out"), "--workers", "0")
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "design point {'arch.rows': 8}" in lines[0], err


@pytest.mark.parametrize(
    ("out", "args", "expected"),
    [
        ("/dev/full", [], "exists and is not a directory"),
        ("{tmp}/spec.yaml/out", [], "cannot write the sweep there (Not a directory)"),
        ("{tmp}/" + "o" * 300, [], "not a usable path (File name too long)"),
        ("{tmp}/out", ["--scheduler", "nonsense"], "--scheduler nonsense: cannot connect"),
    ],
    ids=["device", "under_a_file", "long_name", "not_an_address"],
)
def test_output_and_scheduler_errors_are_one_line(tmp_path, model, hwsim_cli, out, args, expected):
    """Each was an internal error (exit 3: NotADirectoryError, OSError, ValueError)."""
    spec = write_spec(tmp_path, model)
    code, _, err = hwsim_cli(
        "sweep", str(spec), "-o", out.format(tmp=tmp_path), "--workers", "0", *args
    )
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and expected in lines[0], err

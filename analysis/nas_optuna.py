"""Latency-aware architecture search with Optuna: does the best network depend on the device?

HW-NAS-Bench (Li et al., ICLR 2021) measured the same search spaces on six devices and found
that their latencies rank architectures differently, so the architectures on the
accuracy-latency Pareto front of one device are not those of another. This study asks the
same question of hwsim's cost models, on a MobileNet-like space (``hwsim.workloads.
mbconv_space``: 21 positions of 7 inverted-residual choices or a skip, ProxylessNAS style,
224x224):

- objective 1, accuracy: **a training-free proxy, not accuracy**: synflow (Tanaka et al.,
  NeurIPS 2020; used for NAS by Abdelfattah et al., ICLR 2021), the summed |weight x
  gradient| of the network made linear (absolute weights, ReLU6 as ReLU so that the network
  is positively homogeneous, batch-norm at its initial identity statistics, float64) on an
  all-ones input at ``PROXY_RESOLUTION`` (32x32, where the last stage is 1x1: the score
  rates the architecture, not an image, and float64 convolutions at 224x224 would take most
  of the study's time); reported as log10. Weights are seeded, the same seed for every architecture.
- objective 2, latency on two profiles: ``cpu_arm_a76`` (a phone CPU core cluster), read
  from a ``hwsim.nas.LatencyTable``, and ``tpu_edge`` (the Edge TPU as deployed behind its
  USB host link), priced by ``hwsim.Predictor`` on the composed network: a deployment is not
  a sum of blocks (the compiler partitions the whole network, the call and its transfers are
  paid once, and the parameter cache is what the whole network's activations leave), so a
  table refuses the profile.

One NSGA-II study (``optuna.samplers.NSGAIISampler``, seeded) per device, ``TRIALS`` trials
each; every architecture either study evaluates is priced on both devices. The script prints
the rank correlation of the two devices' latencies over all evaluated architectures, each
device's best proxy within a latency budget (the budget: the latency of MobileNetV2's own
choice, expansion 6 and kernel 3 everywhere, on that device), and what that choice costs on
the other device. A few front architectures are re-priced by ``hwsim.Predictor`` on the
composed network as a check of the table.

Run: ``python analysis/nas_optuna.py`` (a few minutes; needs ``pip install -e '.[analysis]'``
for optuna and matplotlib). Writes ``analysis/results/nas_optuna.csv`` and
``docs/img/nas_pareto.png``; docs/nas.md records the output.
"""

from __future__ import annotations

import csv
import math
from functools import cache
from pathlib import Path

import numpy as np
import optuna
import torch
from scipy.stats import kendalltau
from torch import nn

from hwsim.errors import ProfileError
from hwsim.nas import LatencyTable, Predictor
from hwsim.nas.table import Position, as_position
from hwsim.workloads import mbconv_space

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "analysis" / "results" / "nas_optuna.csv"
PLOT = ROOT / "docs" / "img" / "nas_pareto.png"
DEVICES = ("cpu_arm_a76", "tpu_edge")
TRIALS = 200
SEED = 0
RESOLUTION = 224
PROXY_RESOLUTION = 32
BUDGET_FRACTIONS = (1.0, 0.95, 0.9, 0.85, 0.8, 0.75)
SLOTS = mbconv_space.slots(RESOLUTION)
LABELS = [mbconv_space.labels(slot) for slot in SLOTS]


def indices(arch: tuple[str, ...]) -> list[int]:
    """Table row of an architecture: the fixed stem, each slot's choice, the fixed head."""
    return [0, *(labels.index(a) for labels, a in zip(LABELS, arch, strict=True)), 0]


def _linear(model: nn.Module) -> nn.Module:
    """Replace ReLU6 by ReLU: synflow needs a positively homogeneous network."""
    for name, child in model.named_children():
        if isinstance(child, nn.ReLU6):
            setattr(model, name, nn.ReLU())
        else:
            _linear(child)
    return model


@cache
def synflow(arch: tuple[str, ...]) -> float:
    """log10 of the synflow score of ``arch`` (seeded weights, all-ones input, float64)."""
    torch.manual_seed(SEED)
    model = _linear(mbconv_space.build(list(arch), PROXY_RESOLUTION)).double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.abs_()
    x = torch.ones(1, 3, PROXY_RESOLUTION, PROXY_RESOLUTION, dtype=torch.float64)
    model.zero_grad()
    model(x).sum().backward()
    score = sum(
        float((p.detach() * p.grad).abs().sum()) for p in model.parameters() if p.grad is not None
    )
    return math.log10(score) if score > 0 else float("-inf")


class DeviceLatency:
    """Seconds per inference of an architecture on one device: read from a ``LatencyTable``
    where the profile's latency is a sum of blocks, else the ``Predictor``'s price of the
    composed network (memoised per architecture)."""

    def __init__(self, space: list[Position], hw: str) -> None:
        self.space = space
        self.table: LatencyTable | None
        try:
            self.table = LatencyTable(space, hw)
        except ProfileError:
            self.table = None
        self.predictor = Predictor(hw)
        self.x = torch.empty(space[0].input_shape, device="meta")
        self._memo: dict[tuple[str, ...], float] = {}

    def compose(self, arch: tuple[str, ...]) -> nn.Module:
        return nn.Sequential(
            *(pos.candidates[c] for pos, c in zip(self.space, indices(arch), strict=True))
        )

    def __call__(self, arch: tuple[str, ...]) -> float:
        if self.table is not None:
            return float(self.table.predict(indices(arch)))
        if arch not in self._memo:
            self._memo[arch] = self.predictor.latency(self.compose(arch), self.x)
        return self._memo[arch]

    def many(self, archs: list[tuple[str, ...]]) -> np.ndarray:
        if self.table is not None:
            return np.asarray(self.table.predict(np.array([indices(a) for a in archs])))
        return np.array([self(a) for a in archs])


def run_study(device: str, tables: dict[str, DeviceLatency]) -> list[tuple[str, ...]]:
    """NSGA-II on (proxy up, latency on ``device`` down); the architectures it tried."""
    sampler = optuna.samplers.NSGAIISampler(seed=SEED, population_size=30)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    tried: list[tuple[str, ...]] = []

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        arch = tuple(
            trial.suggest_categorical(f"s{i:02d}", labels) for i, labels in enumerate(LABELS)
        )
        tried.append(arch)
        return synflow(arch), tables[device](arch)

    study.optimize(objective, n_trials=TRIALS)
    return tried


def front(points: np.ndarray) -> np.ndarray:
    """Mask of the points no other point beats in both proxy (up) and latency (down)."""
    order = np.lexsort((-points[:, 0], points[:, 1]))  # latency ascending, proxy descending
    mask = np.zeros(len(points), dtype=bool)
    best = -np.inf
    for i in order:
        if points[i, 0] > best:
            mask[i], best = True, points[i, 0]
    return mask


def main() -> None:
    torch.set_num_threads(1)  # small float64 convolutions: threads only contend
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = [as_position(p) for p in mbconv_space.positions(RESOLUTION)]
    tables = {hw: DeviceLatency(space, hw) for hw in DEVICES}
    archs: dict[tuple[str, ...], str] = {}
    for device in DEVICES:
        for arch in run_study(device, tables):
            archs.setdefault(arch, device)
    rows = list(archs)
    proxy = np.array([synflow(a) for a in rows])
    lat = {hw: tables[hw].many(rows) for hw in DEVICES}
    tau = kendalltau(lat[DEVICES[0]], lat[DEVICES[1]]).statistic
    print(f"{len(rows)} distinct architectures evaluated ({TRIALS} trials per device)")
    print(f"Kendall tau of {DEVICES[0]} vs {DEVICES[1]} latency over them: {tau:.3f}")

    reference = tuple(["e6_k3"] * len(SLOTS))
    budget = {hw: tables[hw](reference) for hw in DEVICES}
    best: dict[str, tuple[str, ...]] = {}
    for hw in DEVICES:
        ok = lat[hw] <= budget[hw]
        pick = int(np.flatnonzero(ok)[np.argmax(proxy[ok])])
        best[hw] = rows[pick]
        other = DEVICES[1] if hw == DEVICES[0] else DEVICES[0]
        print(
            f"best proxy within {hw}'s budget ({budget[hw] * 1e3:.2f} ms, MobileNetV2's "
            f"e6_k3 choice): proxy {proxy[pick]:.2f}, {lat[hw][pick] * 1e3:.2f} ms on {hw}, "
            f"{lat[other][pick] * 1e3:.2f} ms on {other} (budget {budget[other] * 1e3:.2f} ms)"
        )
        print("   ", " ".join(best[hw]))
    differs = sum(a != b for a, b in zip(best[DEVICES[0]], best[DEVICES[1]], strict=True))
    print(f"the two devices' picks differ in {differs} of {len(SLOTS)} positions")
    # The same question at tighter budgets (a fraction of each device's reference latency).
    for fraction in BUDGET_FRACTIONS:
        picks = []
        for hw in DEVICES:
            ok = lat[hw] <= fraction * budget[hw]
            picks.append(rows[int(np.flatnonzero(ok)[np.argmax(proxy[ok])])] if ok.any() else None)
        if None in picks:
            print(f"budget {fraction:.0%}: no evaluated architecture fits on both devices")
            continue
        apart = sum(a != b for a, b in zip(picks[0], picks[1], strict=True))
        cross = [
            float(lat[hw][rows.index(pick)]) / budget[hw]
            for hw, pick in zip(DEVICES[::-1], picks, strict=True)
        ]
        print(
            f"budget {fraction:.0%} of the reference: picks differ in {apart} of {len(SLOTS)}"
            f" positions; each device's pick on the other device: "
            + ", ".join(f"{c:.0%} of its reference" for c in cross)
        )

    masks = {hw: front(np.stack([proxy, lat[hw]], axis=1)) for hw in DEVICES}
    shared = int((masks[DEVICES[0]] & masks[DEVICES[1]]).sum())
    print(
        f"Pareto fronts: {masks[DEVICES[0]].sum()} architectures on {DEVICES[0]}'s, "
        f"{masks[DEVICES[1]].sum()} on {DEVICES[1]}'s, {shared} on both"
    )
    # Per-block view: the latency of MobileNetV2's choice with one mid-network slot changed.
    slot = 9
    for hw in DEVICES:
        parts = []
        for label in LABELS[slot]:
            arch = list(reference)
            arch[slot] = label
            parts.append(f"{label} {tables[hw](tuple(arch)) * 1e3:.2f}")
        where = f"{SLOTS[slot].c_in}->{SLOTS[slot].c_out} ch, {SLOTS[slot].side}px"
        print(f"slot {slot} ({where}) on {hw}, ms: {', '.join(parts)}")

    checks = []
    for hw in DEVICES:
        if tables[hw].table is None:
            continue
        for i in np.flatnonzero(masks[hw])[:10]:
            net = tables[hw].compose(rows[i])
            checks.append(abs(lat[hw][i] / tables[hw].predictor.latency(net, tables[hw].x) - 1))
    print(
        f"table vs Predictor on {len(checks)} composed front networks: max error {max(checks):.1e}"
    )

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            [
                "arch",
                "found_by",
                "synflow_log10",
                *(f"{hw}_ms" for hw in DEVICES),
                *(f"front_{hw}" for hw in DEVICES),
            ]
        )
        for i, arch in enumerate(rows):
            writer.writerow(
                [
                    " ".join(arch),
                    archs[arch],
                    f"{proxy[i]:.4f}",
                    *(f"{lat[hw][i] * 1e3:.4f}" for hw in DEVICES),
                    *(int(masks[hw][i]) for hw in DEVICES),
                ]
            )
    plot(proxy, lat, masks, budget, best, rows)


def plot(
    proxy: np.ndarray,
    lat: dict[str, np.ndarray],
    masks: dict[str, np.ndarray],
    budget: dict[str, float],
    best: dict[str, tuple[str, ...]],
    rows: list[tuple[str, ...]],
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = {DEVICES[0]: "tab:blue", DEVICES[1]: "tab:orange"}
    for ax, hw in zip(axes, DEVICES, strict=True):
        other = DEVICES[1] if hw == DEVICES[0] else DEVICES[0]
        ax.scatter(lat[hw] * 1e3, proxy, s=6, c="0.75", label="evaluated")
        own = masks[hw]
        order = np.argsort(lat[hw][own])
        ax.plot(
            lat[hw][own][order] * 1e3,
            proxy[own][order],
            "-o",
            ms=3,
            c=colors[hw],
            label=f"Pareto front on {hw}",
        )
        theirs = masks[other]
        ax.scatter(
            lat[hw][theirs] * 1e3,
            proxy[theirs],
            s=14,
            marker="x",
            c=colors[other],
            label=f"{other}'s front, priced here",
        )
        ax.axvline(budget[hw] * 1e3, ls="--", c="0.4", lw=0.8, label="budget (MobileNetV2 e6_k3)")
        for dev, marker in ((hw, "*"), (other, "P")):
            i = rows.index(best[dev])
            ax.scatter(
                lat[hw][i] * 1e3,
                proxy[i],
                s=120,
                marker=marker,
                c=colors[dev],
                edgecolors="k",
                zorder=5,
                label=f"best within {dev}'s budget",
            )
        ax.set_xlabel(f"hwsim latency on {hw} (ms)")
        ax.set_ylabel("synflow proxy (log10), not accuracy")
        ax.set_title(hw)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle("NSGA-II on a MobileNet-like space: proxy vs hwsim latency per device")
    fig.tight_layout()
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOT, dpi=130)


if __name__ == "__main__":
    main()

"""Compare hwsim's LLM serving estimates with published serving figures (runs without a GPU).

No GPU has been lent to this work, so ``hwsim.llm`` is checked against figures NVIDIA,
MLCommons and vLLM users published. Nothing in hwsim was fitted to these rows: every row is
a validation row, priced once with the presets as they are. The on-GPU measurement is owed.

Run: ``python benchmarks/llm_published.py``. The table also goes to
``benchmarks/results/llm_published.csv``; docs/validation.md discusses it.
"""

from __future__ import annotations

import csv
import dataclasses
import statistics
from dataclasses import dataclass
from pathlib import Path

from hwsim.llm import ServingEstimate, ServingRequest, serve
from hwsim.profile import Profile, load_profile

RESULTS_CSV = Path(__file__).resolve().parent / "results" / "llm_published.csv"

TRTLLM_PERF = (
    "NVIDIA/TensorRT-LLM docs/source/performance.md @77d24b5 (data for v0.6.1, "
    "gptSessionBenchmark, static batch)"
)
TRTLLM_TTFT = f"{TRTLLM_PERF}, 'Low Latency' (data from v0.5)"
MLPERF = (
    "MLCommons inference_results_v4.0 closed/NVIDIA/results/{system}/llama2-70b-99.9/Offline/"
    "performance/run_1/mlperf_log_summary.txt; batch from closed/NVIDIA/configs/llama2-70b/"
    "Offline (gpu_batch_size, use_fp8, tensor_parallelism)"
)
VLLM_H100 = (
    "yobitelcomm.github.io/bench/recipes/concurrency-sweep: vLLM 0.21.0, Llama-3.1-8B-Instruct "
    "fp16, H100-80GB-HBM3, concurrency 1, tpot_p50"
)
VLLM_A100 = (
    "johnmusgrave.com/p/vllm-throughput-latency-sweep-on: vLLM 0.23.0, Llama-3.1-8B-Instruct "
    "BF16, A100 40GB, 1024 in / 128 out, concurrency 1, 'about 75 tokens/sec'"
)

# Hardware that has no preset, as a preset with other memory: the A100 40GB (HBM2 1555 GB/s
# against the 80GB part's 2039, A100 datasheet; 40960 MiB, the total nvidia-smi reports,
# modal-labs/modal-client PR 2797) and the H200 SXM (HBM3e 4.8 TB/s against the H100's 3.35,
# H200 datasheet; 143771 MiB as nvidia-smi reports it; the same GH100 compute and NVLink 4).
# (preset, its HBM level, new HBM bytes/s, capacity bytes)
VARIANTS: dict[str, tuple[str, str, float, int]] = {
    "gpu_a100_40gb_trt": ("gpu_a100_trt", "hbm", 1.555e12, 40960 * 2**20),
    "gpu_h200_trt": ("gpu_h100_trt", "hbm", 4.8e12, 143771 * 2**20),
}


def profile_for(hw: str) -> Profile:
    """A preset, or a variant of one with its HBM bandwidth (at the preset's sustained
    fraction) and capacity replaced."""
    if hw not in VARIANTS:
        return load_profile(hw)
    preset, level, bandwidth, capacity = VARIANTS[hw]
    return load_profile(preset).with_params(
        {
            "name": hw,
            f"memory.{level}.bandwidth_bytes_per_s": bandwidth,
            "arch.memory_capacity_bytes": capacity,
        }
    )


@dataclass(frozen=True)
class Reference:
    """One published figure and the serving setup hwsim prices to compare with it."""

    model: str
    hw: str
    quant: str
    kv_dtype: str | None
    batch: int
    tp: int
    prompt: int
    gen: int
    metric: str  # tok_s_per_gpu | ttft_ms | tpot_ms
    published: float
    source: str
    note: str = ""


def _trt(model: str, tp: int, batch: int, isl: int, osl: int, value: float, gpu: str) -> Reference:
    h100 = gpu == "h100"
    return Reference(
        model=model,
        hw="gpu_h100_trt" if h100 else "gpu_a100_trt",
        quant="fp8" if h100 else "fp16",
        kv_dtype="fp8" if h100 else None,
        batch=batch,
        tp=tp,
        prompt=isl,
        gen=osl,
        metric="tok_s_per_gpu",
        published=value,
        source=TRTLLM_PERF,
        note="--enable_fp8 --fp8_kv_cache" if h100 else "fp16",
    )


def _ttft(model: str, tp: int, isl: int, ms: float, gpu: str) -> Reference:
    ref = _trt(model, tp, 1, isl, 1, ms, gpu)
    return dataclasses.replace(ref, metric="ttft_ms", source=TRTLLM_TTFT)


REFERENCES: tuple[Reference, ...] = (
    _trt("llama2_7b", 1, 768, 128, 128, 19694, "h100"),
    _trt("llama2_7b", 1, 112, 128, 2048, 6818, "h100"),
    _trt("llama2_7b", 1, 80, 2048, 128, 2244, "h100"),
    _trt("llama2_7b", 1, 48, 2048, 2048, 2740, "h100"),
    _trt("llama2_70b", 2, 1024, 128, 128, 2657, "h100"),
    _trt("llama2_70b", 4, 480, 128, 2048, 1486, "h100"),
    _trt("llama2_70b", 2, 96, 2048, 128, 306, "h100"),
    _trt("llama2_70b", 2, 64, 2048, 2048, 547, "h100"),
    _trt("llama2_7b", 1, 384, 128, 128, 5586, "a100"),
    _trt("llama2_7b", 1, 60, 128, 2048, 1928, "a100"),
    _trt("llama2_7b", 1, 52, 2048, 128, 591, "a100"),
    _trt("llama2_7b", 2, 64, 2048, 2048, 782, "a100"),
    _trt("llama2_70b", 4, 1280, 128, 128, 670, "a100"),
    _trt("llama2_70b", 4, 240, 128, 2048, 525, "a100"),
    _trt("llama2_70b", 4, 120, 2048, 128, 79, "a100"),
    _ttft("llama2_7b", 1, 128, 7, "h100"),
    _ttft("llama2_7b", 1, 2048, 36, "h100"),
    _ttft("llama2_70b", 4, 128, 26, "h100"),
    _ttft("llama2_70b", 4, 2048, 109, "h100"),
    _ttft("llama2_7b", 1, 128, 16, "a100"),
    _ttft("llama2_7b", 1, 2048, 133, "a100"),
    _ttft("llama2_70b", 4, 128, 47, "a100"),
    _ttft("llama2_70b", 4, 2048, 377, "a100"),
    Reference(
        "llama3_8b",
        "gpu_h100_trt",
        "fp16",
        None,
        1,
        1,
        256,
        128,
        "tpot_ms",
        6.48,
        VLLM_H100,
        "input length not stated ('chatbot-short'); 256 assumed, TPOT at batch 1 hardly "
        "depends on it",
    ),
    Reference(
        "llama3_8b",
        "gpu_a100_40gb_trt",
        "bf16",
        None,
        1,
        1,
        1024,
        128,
        "tpot_ms",
        1000 / 75,
        VLLM_A100,
        "the post gives 'about 75 tokens/sec'",
    ),
)


@dataclass(frozen=True)
class Bracket:
    """An MLPerf Offline result whose mean input length is not in the stored files: hwsim is
    priced at the shortest and longest inputs the dataset allows."""

    system: str
    hw: str
    tp: int
    batch: int
    gpus: int
    tokens_per_s: float
    samples_per_s: float


# MLPerf v4.0 Llama 2 70B Offline; OpenOrca prompts are capped at 1024 tokens (processorca.py
# --seqlen_limit=1024 in mlcommons/inference language/llama2-70b); outputs average
# tokens/s / samples/s tokens (292); NVIDIA runs fp8 with in-flight batching.
BRACKETS: tuple[Bracket, ...] = (
    Bracket("DGX-H100_H100-SXM-80GBx2_TRT", "gpu_h100_trt", 2, 896, 2, 5539.47, 18.9752),
    Bracket("H200-SXM-141GB-CTSx1_TRT", "gpu_h200_trt", 1, 806, 1, 4020.31, 13.7261),
)
BRACKET_INPUTS = (128, 1024)


@dataclass(frozen=True)
class Row:
    """One comparison, in the CSV's column order."""

    model: str
    hw: str
    quant: str
    tp: int
    batch: int
    prompt: int
    gen: int
    metric: str
    published: float
    hwsim: float
    error_pct: float
    # TensorRT-LLM v0.6.1 throughput rows priced again with the masked-MHA decode kernel (no
    # grouped-query sharing): a hypothesis added after the default missed the 70B rows, so
    # these are not held-out validation of that variant (docs/validation.md).
    hwsim_mmha: float | None
    error_mmha_pct: float | None
    bound: str
    fits: bool | None
    source: str
    note: str


def _value(ref: Reference, est: ServingEstimate) -> tuple[float, str]:
    if ref.metric == "ttft_ms":
        return est.ttft_s * 1e3, est.prefill.bound
    if ref.metric == "tpot_ms":
        assert est.tpot_s is not None
        return est.tpot_s * 1e3, est.decode.bound
    return est.tokens_per_s / ref.tp, est.decode.bound


def compare(ref: Reference) -> Row:
    request = ServingRequest(
        prompt=ref.prompt,
        gen=ref.gen,
        batch=ref.batch,
        tp=ref.tp,
        quant=ref.quant,
        kv_dtype=ref.kv_dtype,
    )
    est = serve(ref.model, profile_for(ref.hw), request)
    value, bound = _value(ref, est)
    mmha = None
    if ref.source == TRTLLM_PERF:
        variant = dataclasses.replace(request, decode_kernel="mmha")
        mmha, _ = _value(ref, serve(ref.model, profile_for(ref.hw), variant))
    return Row(
        model=ref.model,
        hw=ref.hw,
        quant=ref.quant,
        tp=ref.tp,
        batch=ref.batch,
        prompt=ref.prompt,
        gen=ref.gen,
        metric=ref.metric,
        published=ref.published,
        hwsim=value,
        error_pct=100.0 * (value - ref.published) / ref.published,
        hwsim_mmha=mmha,
        error_mmha_pct=None if mmha is None else 100.0 * (mmha - ref.published) / ref.published,
        bound=bound,
        fits=est.memory.fits,
        source=ref.source,
        note=ref.note,
    )


def bracket_rows(b: Bracket) -> list[Row]:
    gen = round(b.tokens_per_s / b.samples_per_s)
    rows = []
    for prompt in BRACKET_INPUTS:
        request = ServingRequest(
            prompt=prompt, gen=gen, batch=b.batch, tp=b.tp, quant="fp8", kv_dtype="fp8"
        )
        est = serve("llama2_70b", profile_for(b.hw), request)
        published = b.tokens_per_s / b.gpus
        value = est.tokens_per_s / b.tp
        rows.append(
            Row(
                model="llama2_70b",
                hw=b.hw,
                quant="fp8",
                tp=b.tp,
                batch=b.batch,
                prompt=prompt,
                gen=gen,
                metric="tok_s_per_gpu",
                published=published,
                hwsim=value,
                error_pct=100.0 * (value - published) / published,
                hwsim_mmha=None,
                error_mmha_pct=None,
                bound=est.decode.bound,
                fits=est.memory.fits,
                source=MLPERF.format(system=b.system),
                note="bracket: mean input length not stated; fp8 KV cache assumed",
            )
        )
    return rows


def main() -> None:
    rows = [compare(ref) for ref in REFERENCES]
    brackets = [row for b in BRACKETS for row in bracket_rows(b)]
    header = f"{'model':<11}{'hw':<19}{'quant':<6}{'tp':>3}{'batch':>6}{'in':>6}{'out':>6}  "
    print(
        f"{header}{'metric':<14}{'published':>10}{'hwsim':>10}{'error':>8}{'mmha':>10}"
        f"{'error':>8}  bound     fits"
    )
    for r in [*rows, *brackets]:
        mmha = (
            f"{r.hwsim_mmha:>10.4g}{r.error_mmha_pct:>7.0f}%"
            if r.hwsim_mmha is not None and r.error_mmha_pct is not None
            else " " * 18
        )
        print(
            f"{r.model:<11}{r.hw:<19}{r.quant:<6}{r.tp:>3}{r.batch:>6}{r.prompt:>6}{r.gen:>6}  "
            f"{r.metric:<14}{r.published:>10.4g}{r.hwsim:>10.4g}{r.error_pct:>7.0f}%{mmha}  "
            f"{r.bound:<9} {r.fits}"
        )
    mape = statistics.fmean(abs(r.error_pct) for r in rows)
    print(f"MAPE over the {len(rows)} point rows: {mape:.0f}%")
    RESULTS_CSV.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS_CSV.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([field.name for field in dataclasses.fields(Row)])
        for r in [*rows, *brackets]:
            writer.writerow(
                [f"{v:.4g}" if isinstance(v, float) else v for v in dataclasses.astuple(r)]
            )


if __name__ == "__main__":
    main()

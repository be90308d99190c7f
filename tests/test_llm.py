"""LLM serving estimates (hwsim.llm): the issue's done-when checks, each against a hand
calculation written out in its docstring, plus the exactness of the decode integral."""

from __future__ import annotations

import dataclasses
import json

import pytest

import hwsim
from hwsim.llm import LlmError, ServingRequest, load_config, serve
from hwsim.llm.decoder import KV_DEPENDENT, Layout, step_graph
from hwsim.llm.formats import quant_of
from hwsim.llm.routing import expected_distinct_experts
from hwsim.llm.serving import decode_steps
from hwsim.llm.splitkv import kv_splits

H100_HBM_BYTES_PER_S = 3.35e12  # H100 SXM datasheet
H100_FP16_FLOPS = 989.4e12  # H100 SXM datasheet, dense


def test_llama3_8b_weight_and_kv_bytes_are_exact() -> None:
    """Llama-3-8B (config.json: hidden 4096, 32 layers, 32 heads, 8 KV heads of 128,
    intermediate 14336, vocab 128256, untied):

    - per layer: q 4096x4096 = 16,777,216; k and v 1024x4096 each = 8,388,608; o 16,777,216;
      gate/up/down 3 x 4096 x 14336 = 176,160,768; two RMSNorm weights 8,192 -> 218,112,000;
    - 32 layers: 6,979,584,000; embedding and lm_head 2 x 128256 x 4096 = 1,050,673,152;
      final norm 4,096 -> 8,030,261,248 parameters, x 2 bytes = 16,060,522,496 bytes.
    - KV: 2 (K, V) x 32 layers x 8 heads x 128 x 2 bytes = 131,072 bytes per token;
      1024 + 128 = 1152 tokens, a whole number of 16-token blocks -> 150,994,944 bytes.
    """
    est = serve("llama3_8b", "gpu_h100", ServingRequest(prompt=1024, gen=128))
    assert est.memory.weights_bytes == 16_060_522_496
    assert est.memory.kv_bytes_per_token == 131_072
    assert est.memory.kv_cache_bytes == 150_994_944


@pytest.mark.parametrize(
    ("model", "params"),
    [
        # 80 x (67,108,864 + 16,777,216 + 67,108,864 + 704,643,072 + 16,384) + 2 x 128256 x 8192
        # + 8192
        ("llama3_70b", 70_553_706_496),
        # as Llama-3-8B per layer (218,112,000 x 32) + 2 x 32000 x 4096 + 4096
        ("mistral_7b", 7_241_732_096),
        # 28 x (12,845,056 + 3,584 + 3,670,016 + 1,024 + 12,845,056 + 203,685,888 + 7,168)
        # + 2 x 152064 x 3584 + 3584 (q/k/v biases: modeling_qwen2.py)
        ("qwen2_7b", 7_615_616_512),
        # 32 x (41,943,040 attention + 32,768 router + 8 x 176,160,768 experts + 8,192)
        # + 2 x 32000 x 4096 + 4096
        ("mixtral_8x7b", 46_702_792_704),
        # wte 38,597,376 + wpe 786,432 + 12 x 7,087,872 + ln_f 1,536 (lm_head tied)
        ("gpt2", 124_439_808),
    ],
)
def test_builtin_models_store_their_published_parameter_counts(model: str, params: int) -> None:
    """fp16 weights are two bytes per parameter; the counts are the models' published sizes
    (70.6B, 7.24B, 7.62B, 46.7B, 124M) written out from their config.json shapes."""
    est = serve(model, "gpu_h100_trt", ServingRequest(prompt=16, gen=2))
    assert est.memory.weights_bytes == 2 * params


def test_tpot_llama3_8b_fp16_h100_batch1_within_2_5x_of_the_hbm_bound() -> None:
    """Decode at batch 1 reads every weight once per token: 16,060,522,496 bytes at the
    datasheet's 3.35 TB/s is 4.794 ms, the floor; the issue allows up to 2.5x (11.99 ms)."""
    est = serve("llama3_8b", "gpu_h100", ServingRequest(prompt=1024, gen=128))
    floor = 16_060_522_496 / H100_HBM_BYTES_PER_S
    assert est.tpot_s is not None
    assert floor <= est.tpot_s <= 2.5 * floor


def test_ttft_llama3_8b_1024_tokens_within_3x_of_the_compute_bound() -> None:
    """Prefill MACs of 1024 tokens: linear layers 32 x 218,103,808 x 1024 = 7.1468e12, the
    lm_head on the last token 525,336,576, causal attention 32 layers x 32 heads x (1024 x 1025
    / 2 keys) x 256 = 1.3757e11: 7.2849e12 MACs = 1.4570e13 FLOPs at 989.4 TFLOPS = 14.73 ms.
    The issue allows up to 3x (44.2 ms)."""
    est = serve("llama3_8b", "gpu_h100", ServingRequest(prompt=1024, gen=1))
    macs = 32 * 218_103_808 * 1024 + 525_336_576 + 32 * 32 * (1024 * 1025 // 2) * 256
    assert est.prefill.macs == macs
    floor = 2 * macs / H100_FP16_FLOPS
    assert floor <= est.ttft_s <= 3 * floor


def test_batching_amortises_decode() -> None:
    """A decode step reads the weights once whatever the batch, so tokens/s should grow nearly
    in proportion to the batch while the weights dominate: up to batch 16 each sequence still
    adds at least 85% of the batch-1 rate (its KV cache, 151 MB at 1152 tokens, is small next
    to 16 GB of weights), and tokens/s keeps growing past that."""
    rates = {}
    for batch in (1, 2, 4, 8, 16, 64, 256):
        est = serve("llama3_8b", "gpu_h100", ServingRequest(prompt=1024, gen=128, batch=batch))
        assert est.tpot_s is not None
        rates[batch] = batch / est.tpot_s
    for batch in (2, 4, 8, 16):
        assert rates[batch] >= 0.85 * batch * rates[1]
    assert rates[1] < rates[16] < rates[64] < rates[256]


def test_fp8_weights_speed_up_decode_at_batch_1_by_1_5x() -> None:
    """fp8 halves the linear layers' bytes (embedding and lm_head stay fp16: 16.06 GB ->
    6.98e9 + 1.05e9 x 2 = 9.08 GB), so a weight-bound decode step gets ~1.77x faster less its
    fixed costs; the issue asks for at least 1.5x."""
    fp16 = serve("llama3_8b", "gpu_h100", ServingRequest(prompt=1024, gen=128))
    fp8 = serve("llama3_8b", "gpu_h100", ServingRequest(prompt=1024, gen=128, quant="fp8"))
    assert fp8.memory.weights_bytes == 6_979_321_856 + 2 * (1_050_673_152 + 266_240)
    assert fp16.tpot_s is not None and fp8.tpot_s is not None
    assert fp16.tpot_s / fp8.tpot_s >= 1.5


def test_llama3_70b_fp16_needs_two_80gb_devices() -> None:
    """141.1 GB of fp16 weights exceed one H100 80GB (81559 MiB = 85,520,809,984 bytes, the
    total nvidia-smi reports); with --tp 2 each device holds half of every sharded matrix
    (70.56 GB: norms replicated) plus half the KV heads, and fits."""
    one = serve("llama3_70b", "gpu_h100", ServingRequest(prompt=1024, gen=128))
    two = serve("llama3_70b", "gpu_h100", ServingRequest(prompt=1024, gen=128, tp=2))
    assert one.memory.capacity_bytes == 81559 * 2**20
    assert one.memory.fits is False and one.memory.max_batch == 0
    assert two.memory.fits is True and (two.memory.max_batch or 0) >= 1
    # 70,553,706,496 params: 2 x 80 x 16,384 norm weights + 8192 replicate, the rest halves.
    replicated = 80 * 2 * 8192 + 8192
    assert two.memory.weights_bytes == 2 * ((70_553_706_496 - replicated) / 2 + replicated)
    # 4 of the 8 KV heads per device: half of 327,680 bytes per token.
    assert two.memory.kv_bytes_per_token == 163_840


def test_tensor_parallel_all_reduces_follow_the_ring_formula() -> None:
    """Llama-3-70B, --tp 2, batch 1, over the H100 preset's NVLink (370 GB/s bus bandwidth, 6 us
    per collective): a decode step all-reduces the 8192-wide fp16 hidden state (16,384 bytes)
    2 x 80 + 1 = 161 times, each 6 us + 2 x 1/2 x 16,384 / 370 GB/s = 6.0443 us, and gathers
    128256 fp32 logits: 6 us + 1/2 x 513,024 / 370e9 = 6.6933 us -> 0.97382 ms."""
    est = serve("llama3_70b", "gpu_h100_trt", ServingRequest(prompt=128, gen=3, tp=2))
    per_step = 161 * (6e-6 + 16_384 / 370e9) + 6e-6 + 0.5 * 128_256 * 4 / 370e9
    assert est.decode.comm_s == pytest.approx(2 * per_step, rel=1e-12)
    assert est.decode.time_by_bound_s["interconnect"] == pytest.approx(2 * per_step, rel=1e-12)


def test_the_link_comes_from_the_profile() -> None:
    """Doubling the profile's interconnect bandwidth and zeroing its latency leaves each step's
    collectives at half their bytes' time: 161 x 16,384 / 740e9 + 1/2 x 513,024 / 740e9."""
    fast = hwsim.load_profile("gpu_h100_trt").with_params(
        {"arch.interconnect_bandwidth_bytes_per_s": 740e9, "arch.interconnect_latency_s": 0.0}
    )
    est = serve("llama3_70b", fast, ServingRequest(prompt=128, gen=3, tp=2))
    per_step = 161 * 16_384 / 740e9 + 0.5 * 128_256 * 4 / 740e9
    assert est.decode.comm_s == pytest.approx(2 * per_step, rel=1e-12)


def test_expected_distinct_experts() -> None:
    """Uniform top-2 of 8: one token touches 2; two tokens 8 x (1 - (6/8)^2) = 3.5; a large
    batch all 8."""
    assert expected_distinct_experts(8, 2, 1) == pytest.approx(2.0)
    assert expected_distinct_experts(8, 2, 2) == pytest.approx(3.5)
    assert expected_distinct_experts(8, 2, 1000) == pytest.approx(8.0)


def test_mixtral_decode_reads_the_two_routed_experts() -> None:
    """Mixtral-8x7B at batch 1 reads, per token: attention 32 x 41,943,040, the router
    32 x 32,768, two experts 2 x 32 x 176,160,768, norms 266,240 and the lm_head 131,072,000:
    12,748,853,248 parameters = 25,497,706,496 bytes from HBM, plus the 128 cached tokens'
    keys and values, 32 layers x 128 x 2 x 8 x 128 x 2 = 16,777,216 bytes. The GPU model adds
    its tile re-fetches (under 0.1%)."""
    est = serve("mixtral_8x7b", "gpu_h100_trt", ServingRequest(prompt=128, gen=2))
    hbm = est.decode.bytes_read["hbm"]
    floor = 25_497_706_496 + 16_777_216
    assert floor <= hbm <= 1.001 * floor


def test_split_kv_heuristic_by_hand() -> None:
    """Llama-3-8B decode at batch 1, 1024 keys, H100 (132 SMs, two CTAs each: 264 slots):
    8 KV heads x 1 query block = 8 items; 128-key blocks -> 8 blocks; distinct splits 1, 2, 3,
    4, 8 reach wave efficiency 8s/264 = 0.030, 0.061, 0.091, 0.121, 0.242; the smallest within
    85% of the best (0.206) is 8. At batch 64 the 512 items fill 80% of the slots: one slice."""
    assert kv_splits(batch=1, heads=8, seq_q=4, seq_k=1024, head_dim=128, sms=132) == 8
    assert kv_splits(batch=64, heads=8, seq_q=4, seq_k=1024, head_dim=128, sms=132) == 1


@pytest.mark.parametrize("hw", ["gpu_h100_trt", "gpu_a100", "cpu_x86_avx2", "tpu_v1"])
def test_decode_integral_equals_pricing_every_step(hw: str) -> None:
    """The decode time is priced as (steps x the KV-independent ops) + layers x the attention
    of every step. Pricing each step's whole graph with hwsim.estimate and adding them up must
    give the same total, on every per-op class."""
    cfg = load_config("gpt2")
    request = ServingRequest(prompt=200, gen=7, batch=3)
    est = serve(cfg, hw, request)
    profile = hwsim.load_profile(hw)
    layout = Layout.of(cfg, 1)
    quant = quant_of("fp16")
    brute = 0.0
    for step in decode_steps(cfg, layout, profile, 3, 200, 7):
        brute += hwsim.estimate(step_graph(cfg, quant, "float16", layout, step), profile).latency_s
    assert est.decode.latency_s == pytest.approx(brute, rel=1e-9)
    assert {"attention"} <= KV_DEPENDENT


def test_decode_steps_see_their_own_kv_length() -> None:
    """On the fused H100 preset at batch 8, the decode attention at the last of 2048 generated
    tokens reads a 3072-token cache, the first a 1025-token one: the last step is slower."""
    est = serve("llama3_8b", "gpu_h100_trt", ServingRequest(prompt=1024, gen=2048, batch=8))
    assert est.first_step_s is not None and est.last_step_s is not None
    assert est.last_step_s > est.first_step_s


def test_sliding_window_caps_attention_and_cache() -> None:
    """Mistral-7B keeps at most 4096 tokens (its sliding window): a 6000-token prompt and 64
    generated tokens occupy 4096 tokens of cache, 131,072 bytes each (same KV shape as
    Llama-3-8B)."""
    est = serve("mistral_7b", "gpu_h100_trt", ServingRequest(prompt=6000, gen=64))
    assert est.memory.kv_cache_bytes == 4096 * 131_072


def test_max_batch_is_the_largest_batch_that_fits() -> None:
    """Memory other than the weights grows in proportion to the batch, so the batch reported
    as the maximum fits and one more does not."""
    request = ServingRequest(prompt=2048, gen=64)
    best = serve("llama3_8b", "gpu_h100_trt", request).memory.max_batch
    assert best is not None and best > 1
    at = serve("llama3_8b", "gpu_h100_trt", ServingRequest(prompt=2048, gen=64, batch=best))
    over = serve("llama3_8b", "gpu_h100_trt", ServingRequest(prompt=2048, gen=64, batch=best + 1))
    assert at.memory.fits is True and over.memory.fits is False


def test_quantized_formats_store_their_bits() -> None:
    """Linear weights of Llama-3-8B: 6,979,321,856 parameters; int8 stores 1 byte each, int4
    and w4a16 half a byte; the embedding, lm_head and norms (1,050,939,392) stay fp16."""
    rest = 2 * (1_050_673_152 + 266_240)
    for quant, per_weight in (("int8", 1.0), ("int4", 0.5), ("w4a16", 0.5)):
        est = serve("llama3_8b", "gpu_h100_trt", ServingRequest(prompt=64, gen=2, quant=quant))
        assert est.memory.weights_bytes == 6_979_321_856 * per_weight + rest


def test_json_has_the_issue_fields() -> None:
    est = serve("gpt2", "gpu_h100_trt", ServingRequest(prompt=64, gen=8, batch=2))
    data = json.loads(json.dumps(est.to_dict()))
    for key in ("ttft_s", "tpot_s", "e2e_s", "tokens_per_s", "fits", "max_batch"):
        assert key in data
    assert set(data["memory"]) >= {
        "weights_bytes",
        "kv_cache_bytes",
        "activation_bytes",
        "total_bytes",
        "capacity_bytes",
    }
    for phase in ("prefill", "decode"):
        assert {"bound", "bytes_read", "energy_j"} <= set(data["phases"][phase])
    assert data["tokens_per_s"] == pytest.approx(2 * 8 / data["e2e_s"])


def test_hugging_face_config_is_read_without_downloads(tmp_path) -> None:
    """A config.json with Llama's fields gives the same model as the built-in table."""
    path = tmp_path / "config.json"
    path.write_text(
        json.dumps(
            {
                "model_type": "llama",
                "hidden_size": 4096,
                "num_hidden_layers": 32,
                "num_attention_heads": 32,
                "num_key_value_heads": 8,
                "intermediate_size": 14336,
                "vocab_size": 128256,
                "max_position_embeddings": 8192,
                "tie_word_embeddings": False,
            }
        )
    )
    cfg = load_config(str(path))
    builtin = load_config("llama3_8b")
    assert (cfg.n_layers, cfg.hidden, cfg.n_kv_heads, cfg.head_dim, cfg.ffn_hidden) == (
        builtin.n_layers,
        builtin.hidden,
        builtin.n_kv_heads,
        builtin.head_dim,
        builtin.ffn_hidden,
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"model_type": "t5"}, "model_type"),
        ({"model_type": "llama", "hidden_size": 64}, "num_attention_heads"),
    ],
)
def test_bad_hugging_face_config_names_the_field(tmp_path, data, message) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    with pytest.raises(LlmError, match=message):
        load_config(str(path))


@pytest.mark.parametrize(
    ("model", "hw", "request_", "message"),
    [
        ("llama3_8b", "gpu_h100", ServingRequest(prompt=16, gen=2, tp=3), "do not split"),
        ("gpt2", "gpu_h100", ServingRequest(prompt=1000, gen=100), "positions"),
        ("gpt2", "fpga_zcu104", ServingRequest(prompt=16, gen=2), "per-op models"),
        ("nope", "gpu_h100", ServingRequest(prompt=16, gen=2), "unknown model"),
        ("gpt2", "gpu_h100", ServingRequest(prompt=16, gen=2, quant="fp4"), "--quant"),
        ("gpt2", "gpu_orin", ServingRequest(prompt=16, gen=2, tp=2), "device-to-device link"),
        ("gpt2", "cpu_x86_avx2", ServingRequest(prompt=16, gen=2, tp=2), "device-to-device"),
    ],
)
def test_bad_requests_are_one_clear_error(model, hw, request_, message) -> None:
    with pytest.raises(LlmError, match=message):
        serve(model, hw, request_)


def test_masked_mha_kernel_reads_the_cache_once_per_query_head() -> None:
    """Llama-3-8B shares each KV head between 4 query heads. At batch 64 the first decode step
    reads 2048 cached tokens from HBM, 64 x 2048 x 2 x 8 x 128 x 2 = 537 MB per layer (the new
    token's row, just written, comes from L2), and a kernel that reads the cache once per query
    head moves 3 more copies: 3 x 32 layers x 537 MB = 51.54 GB."""
    request = ServingRequest(prompt=2048, gen=2, batch=64)
    flash = serve("llama3_8b", "gpu_h100_trt", request)
    mmha = serve("llama3_8b", "gpu_h100_trt", dataclasses.replace(request, decode_kernel="mmha"))
    extra = mmha.decode.bytes_read["hbm"] - flash.decode.bytes_read["hbm"]
    assert extra == 3 * 32 * 64 * 2048 * 2 * 8 * 128 * 2


def test_the_kv_cache_is_read_from_hbm_however_small() -> None:
    """GPT-2's first decode step after a 16-token prompt: each layer's attention reads the 16
    cached rows of 12 heads x 64 x (K, V) x 2 bytes = 49,152 bytes, written by earlier steps and
    long evicted, from HBM, though the 40 MB L2 could hold them many times over; the new
    token's row, just written, comes from L2."""
    cfg = load_config("gpt2")
    profile = hwsim.load_profile("gpu_a100_trt")
    layout = Layout.of(cfg, 1)
    (step,) = decode_steps(cfg, layout, profile, 1, 16, 2)
    est = hwsim.estimate(step_graph(cfg, quant_of("fp16"), "float16", layout, step), profile)
    (cost,) = [c for op, c in est.costs if op.id == "layers.0.attention"]
    assert cost is not None
    assert cost.bytes_read["hbm"] == 16 * 12 * 64 * 2 * 2


def test_masked_mha_runs_on_the_cuda_cores() -> None:
    """The masked-MHA decode kernel has no query tile: its MACs (batch 1, 12 heads, 17 keys,
    2 x 64: 26,112) run on the CUDA cores at A100's fp16 vector rate, 6912 lanes x 2 packed."""
    request = ServingRequest(prompt=16, gen=2, decode_kernel="mmha")
    cfg = load_config("gpt2")
    profile = hwsim.load_profile("gpu_a100_trt")
    layout = Layout.of(cfg, 1)
    (step,) = decode_steps(cfg, layout, profile, 1, 16, 2, request.decode_kernel)
    est = hwsim.estimate(step_graph(cfg, quant_of("fp16"), "float16", layout, step), profile)
    (cost,) = [c for op, c in est.costs if op.id == "layers.0.attention"]
    assert cost is not None and any("CUDA cores" in n for n in cost.notes)
    assert cost.compute_cycles == pytest.approx(12 * 17 * 128 / (6912 * 2))

"""Coverage corpus: architectures users bring, built from transformers configs (random init,
tiny sizes, nothing downloaded) and plain torch, each checked against an independent count.

For every model: MACs equal ``torch.utils.flop_counter.FlopCounterMode``'s FLOPs / 2 on the
eager model, nothing is unsupported, and the parameter count equals the model's unique
parameters (``model.parameters()`` yields a tied weight once). FlopCounterMode has no formula
for the CPU attention kernel (``_scaled_dot_product_flash_attention_for_cpu``), which eager
attention runs on this machine, so the test supplies torch's own ``sdpa_flop_count`` for it,
with the key and value heads a grouped-query model shares spelled out per query head. It does
not count ``aten.lstm``, so recurrent layers are counted by hand in their docstrings.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

import hwsim
from hwsim.ops import OpKind

transformers = pytest.importorskip("transformers")


def _cpu_sdpa(query, key, value, *args, out_shape=None, **kwargs):
    """torch's sdpa formula for the CPU kernel; grouped K/V heads counted per query head."""
    b, heads, _, _ = query
    return sdpa_flop_count(query, (b, heads, *key[2:]), (b, heads, *value[2:]))


_COUNT_CPU_ATTENTION = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa}


def _tokens() -> tuple[torch.Tensor, ...]:
    return (torch.randint(0, 100, (1, 16)),)


def _image(size: int = 32) -> tuple[torch.Tensor, ...]:
    return (torch.randn(1, 3, size, size),)


_LM = dict(
    num_hidden_layers=2,
    hidden_size=32,
    num_attention_heads=4,
    intermediate_size=64,
    vocab_size=100,
    use_cache=False,
)


def _t(name: str) -> Callable[..., object]:
    return getattr(transformers, name)


CORPUS: dict[str, tuple[Callable[[], nn.Module], Callable[[], tuple[torch.Tensor, ...]]]] = {
    "llama_gqa": (
        lambda: _t("LlamaModel")(_t("LlamaConfig")(**_LM, num_key_value_heads=2)),
        _tokens,
    ),
    "qwen2_gqa": (
        lambda: _t("Qwen2Model")(_t("Qwen2Config")(**_LM, num_key_value_heads=1)),
        _tokens,
    ),
    "gpt2_tied_head": (
        lambda: _t("GPT2LMHeadModel")(
            _t("GPT2Config")(
                n_layer=2,
                n_embd=32,
                n_head=4,
                vocab_size=100,
                n_positions=32,
                bos_token_id=0,
                eos_token_id=0,
                use_cache=False,
            )
        ),
        _tokens,
    ),
    "bert": (
        lambda: _t("BertModel")(
            _t("BertConfig")(
                **{k: v for k, v in _LM.items() if k != "use_cache"}, max_position_embeddings=32
            )
        ),
        _tokens,
    ),
    "t5_encoder": (
        lambda: _t("T5EncoderModel")(
            _t("T5Config")(d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, vocab_size=100)
        ),
        _tokens,
    ),
    "wav2vec2": (
        lambda: _t("Wav2Vec2Model")(
            _t("Wav2Vec2Config")(
                num_hidden_layers=1,
                hidden_size=32,
                num_attention_heads=4,
                intermediate_size=64,
                conv_dim=(16, 16),
                conv_kernel=(10, 3),
                conv_stride=(5, 2),
                num_conv_pos_embeddings=16,
                num_conv_pos_embedding_groups=4,
            )
        ),
        lambda: (torch.randn(1, 800),),
    ),
    "whisper_encoder": (
        lambda: (
            _t("WhisperModel")(
                _t("WhisperConfig")(
                    encoder_layers=1,
                    decoder_layers=1,
                    d_model=32,
                    encoder_attention_heads=4,
                    decoder_attention_heads=4,
                    encoder_ffn_dim=64,
                    decoder_ffn_dim=64,
                    num_mel_bins=16,
                    max_source_positions=32,
                    vocab_size=100,
                    pad_token_id=0,
                    bos_token_id=1,
                    eos_token_id=2,
                    decoder_start_token_id=1,
                    use_cache=False,
                )
            ).encoder
        ),
        lambda: (torch.randn(1, 16, 64),),
    ),
    "vit": (
        lambda: _t("ViTModel")(
            _t("ViTConfig")(
                num_hidden_layers=2,
                hidden_size=32,
                num_attention_heads=4,
                intermediate_size=64,
                image_size=32,
                patch_size=8,
            )
        ),
        _image,
    ),
    "convnext": (
        lambda: _t("ConvNextModel")(
            _t("ConvNextConfig")(hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1])
        ),
        _image,
    ),
    "swin": (
        lambda: _t("SwinModel")(
            _t("SwinConfig")(
                image_size=32,
                patch_size=4,
                embed_dim=16,
                depths=[1, 1],
                num_heads=[2, 4],
                window_size=4,
            )
        ),
        _image,
    ),
    "mobilevit": (
        lambda: _t("MobileViTModel")(
            _t("MobileViTConfig")(
                image_size=64,
                hidden_sizes=[16, 24, 32],
                neck_hidden_sizes=[8, 8, 16, 16, 24, 24, 32],
            )
        ),
        lambda: _image(64),
    ),
    "levit": (
        lambda: _t("LevitModel")(
            _t("LevitConfig")(
                image_size=64,
                hidden_sizes=[32, 48, 64],
                num_attention_heads=[2, 2, 2],
                depths=[1, 1, 1],
                key_dim=[8, 8, 8],
            )
        ),
        lambda: _image(64),
    ),
    "regnet": (
        lambda: _t("RegNetModel")(
            _t("RegNetConfig")(
                hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1], embedding_size=8, groups_width=8
            )
        ),
        _image,
    ),
}


def _flop_counter_macs(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> int:
    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=_COUNT_CPU_ATTENTION) as fc:
        model(*inputs)
    return fc.get_total_flops() // 2


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_model_counts_match_independent_ones(name):
    torch.manual_seed(0)
    build, make_inputs = CORPUS[name]
    model = build().eval()
    inputs = make_inputs()
    # Counted first: the eager run also fills any cache a model keeps (LeViT caches its
    # attention biases), and the trace must still count the parameter behind it.
    expected_macs = _flop_counter_macs(model, inputs)
    graph = hwsim.trace(model, example_inputs=inputs)
    assert [op.target for op in graph.unsupported] == []
    assert graph.macs == expected_macs
    assert graph.param_count == sum(p.numel() for p in model.parameters())


def test_gpt2_conv1d_and_tied_head_by_hand():
    """GPT-2 small's own figures, at a tiny size: each Conv1D is addmm(bias, x, W[in, out]),
    K = in. Per layer at 16 tokens, width 32: c_attn 16x32x96, c_proj 16x32x32, c_fc
    16x32x128, mlp c_proj 16x128x32 = 49152 + 16384 + 65536 + 65536 = 196608 MACs; two layers
    393216; attention 4 heads x 16 x 16 x (8 + 8) = 16384 per layer, 32768; the tied head
    16 x 32 x 100 = 51200. Total 477184. Parameters: wte 100x32 (tied with the head, once),
    wpe 32x32, per layer 2 x (2 x 32) norms + (32x96 + 96) + (32x32 + 32) + (32x128 + 128) +
    (128x32 + 32), final norm 64: 3200 + 1024 + 2 x 12704 + 64 = 29696."""
    build, make_inputs = CORPUS["gpt2_tied_head"]
    graph = hwsim.trace(build().eval(), example_inputs=make_inputs())
    assert graph.macs == 477_184
    assert graph.param_count == 29_696


# --- plain-torch recurrent models: counted by hand ------------------------------------------


class Tagger(nn.Module):
    """An LSTM sequence tagger: embedding, 2-layer bidirectional LSTM, linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        self.lstm = nn.LSTM(16, 24, num_layers=2, bidirectional=True, batch_first=True)
        self.head = nn.Linear(48, 5)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.embed(tokens))
        return self.head(out)


class Forecaster(nn.Module):
    """A GRU time-series model over (steps, batch, features), then a vanilla RNN and a head."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(6, 20)
        self.rnn = nn.RNN(20, 10, nonlinearity="relu", bias=False)
        self.head = nn.Linear(10, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.gru(x)
        z, _ = self.rnn(y)
        return self.head(z[-1])


def test_lstm_tagger_by_hand():
    """Batch 3 x 7 steps = 21 tokens. Layer 1 per direction: W_ih 96x16, W_hh 96x24 ->
    21 x (1536 + 2304) = 80640, two directions 161280. Layer 2 reads 48 features: W_ih 96x48,
    W_hh 96x24 -> 21 x (4608 + 2304) = 145152, two directions 290304. Head 21 x 48 x 5 =
    5040. Total 456624. Gates: 4 (layer, direction) pairs x 21 tokens x 24 units x 40 FLOPs
    = 80640."""
    graph = hwsim.trace(Tagger().eval(), example_inputs=(torch.randint(0, 50, (3, 7)),))
    assert graph.unsupported == []
    assert graph.macs == 456_624
    gates = [op for op in graph if op.name.endswith("/gates")]
    assert [op.flops for op in gates] == [80_640]
    assert graph.param_count == sum(p.numel() for p in Tagger().parameters())


def test_gru_and_relu_rnn_by_hand():
    """12 steps x batch 4 = 48 tokens. GRU: W_ih 60x6, W_hh 60x20 -> 48 x (360 + 1200) =
    74880. RNN (no bias): W_ih 10x20, W_hh 10x10 -> 48 x 300 = 14400. Head: 4 x 10. Total
    89320. Gate FLOPs: GRU 48 x 20 x 28 = 26880; RNN without biases 48 x 10 x (4 - 2) = 960."""
    graph = hwsim.trace(Forecaster().eval(), example_inputs=(torch.randn(12, 4, 6),))
    assert graph.unsupported == []
    assert graph.macs == 89_320
    gates = {op.name: op.flops for op in graph if op.name.endswith("/gates")}
    assert sorted(gates.values()) == [960, 26_880]


@pytest.fixture(scope="module")
def tagger_graph():
    return hwsim.trace(Tagger().eval(), example_inputs=(torch.randint(0, 50, (3, 7)),))


@pytest.mark.parametrize(
    "hw", ["cpu_arm_a76", "gpu_a100", "tpu_edge", "eyeriss", "fpga_zcu104", "fpga_zcu104_dpu"]
)
def test_recurrent_models_price_on_every_class(tagger_graph, hw):
    """No recurrent op is unsupported or free on any class: the products are GEMMs with their
    MACs, the gates pointwise work."""
    graph = tagger_graph
    est = hwsim.estimate(graph, hw)
    assert est.unsupported == []
    priced = {op.id: cost for op, cost in est.costs}
    for op in graph:
        if op.kind is OpKind.GEMM:
            assert priced[op.id] is not None and priced[op.id].cycles > 0, op.name
    assert 0 < est.latency_s < 1

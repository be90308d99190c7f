"""Reference models built from ``transformers`` configs with random weights.

Every config is spelled out here rather than fetched, so nothing is ever downloaded and the
architecture a MAC count refers to is readable in one place. ``transformers`` is imported
inside the builders only: importing it takes seconds, and listing workloads should not.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .inputs import image_batch, token_batch
from .settle import settle_batchnorm
from .spec import Workload

# Keywords every PreTrainedConfig takes through **kwargs; the per-model config dataclasses do
# not declare them, so they are passed the way transformers passes them, as a mapping.
IMAGENET_HEAD: dict[str, Any] = {"num_labels": 1000}
SDPA: dict[str, Any] = {"attn_implementation": "sdpa"}


class TensorOutput(nn.Module):
    """Returns one field of a ``transformers`` output object as a plain tensor.

    ``torch.export`` then has a single tensor output rather than a ``ModelOutput`` pytree, and
    module paths stay the wrapped model's own under ``model.``.
    """

    def __init__(self, model: nn.Module, field: str) -> None:
        super().__init__()
        self.model = model
        self.field = field

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        output: torch.Tensor = getattr(self.model(inputs), self.field)
        return output


def _build_resnet18() -> nn.Module:
    from transformers import ResNetConfig, ResNetForImageClassification

    config = ResNetConfig(
        layer_type="basic",
        depths=[2, 2, 2, 2],
        hidden_sizes=[64, 128, 256, 512],
        **IMAGENET_HEAD,
    )
    return settle_batchnorm(TensorOutput(ResNetForImageClassification(config), "logits"))


def _build_resnet50() -> nn.Module:
    from transformers import ResNetConfig, ResNetForImageClassification

    # The defaults are ResNet-50 with the stride on the 3x3 conv, as in torchvision.
    config = ResNetConfig(
        layer_type="bottleneck",
        depths=[3, 4, 6, 3],
        hidden_sizes=[256, 512, 1024, 2048],
        **IMAGENET_HEAD,
    )
    return settle_batchnorm(TensorOutput(ResNetForImageClassification(config), "logits"))


def _build_mobilenet_v2() -> nn.Module:
    from transformers import MobileNetV2Config, MobileNetV2ForImageClassification

    # tf_padding=False uses symmetric conv padding instead of TensorFlow "SAME" emulation, which
    # would add an explicit pad op before every strided conv that no PyTorch export has.
    config = MobileNetV2Config(
        depth_multiplier=1.0,
        image_size=224,
        tf_padding=False,
        classifier_dropout_prob=0.2,
        **IMAGENET_HEAD,
    )
    return settle_batchnorm(TensorOutput(MobileNetV2ForImageClassification(config), "logits"))


def _build_efficientnet_b0() -> nn.Module:
    from transformers import EfficientNetConfig, EfficientNetForImageClassification

    # EfficientNetConfig defaults to B7; B0 is the unscaled base network. hidden_dim must
    # follow the top conv's width (1280 at width 1.0) or the final batch norm mismatches.
    config = EfficientNetConfig(
        width_coefficient=1.0,
        depth_coefficient=1.0,
        image_size=224,
        hidden_dim=1280,
        dropout_rate=0.2,
        drop_connect_rate=0.2,
        **IMAGENET_HEAD,
    )
    return settle_batchnorm(TensorOutput(EfficientNetForImageClassification(config), "logits"))


def _build_vit_tiny() -> nn.Module:
    from transformers import ViTConfig, ViTForImageClassification

    # sdpa makes attention one scaled_dot_product_attention op, which hwsim prices as a unit.
    config = ViTConfig(
        hidden_size=192,
        num_hidden_layers=12,
        num_attention_heads=3,
        intermediate_size=768,
        patch_size=16,
        image_size=224,
        **IMAGENET_HEAD,
        **SDPA,
    )
    return TensorOutput(ViTForImageClassification(config), "logits").eval()


def _build_bert_base() -> nn.Module:
    from transformers import BertConfig, BertModel

    # The pooler is dropped: only last_hidden_state is returned, and a pooler whose output is
    # discarded would be counted eagerly but removed as dead code by torch.export.
    config = BertConfig(
        vocab_size=30522,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        **SDPA,
    )
    return TensorOutput(BertModel(config, add_pooling_layer=False), "last_hidden_state").eval()


def resnet18() -> Workload:
    """ResNet-18, the smallest canonical residual network."""
    return Workload(
        name="resnet18",
        description="ResNet-18 (basic blocks 2-2-2-2), ImageNet 224x224, 1000 classes",
        build=_build_resnet18,
        make_inputs=image_batch,
        published_macs=1.8e9,
        macs_source="He et al. 2016, table 1: 1.8e9 FLOPs, counted as multiply-adds",
    )


def resnet50() -> Workload:
    """ResNet-50: the paper's 3.8e9 is lower than what its architecture measures, so the
    figure every framework reproduces (torchvision's) is the reference."""
    return Workload(
        name="resnet50",
        description="ResNet-50 (bottlenecks 3-4-6-3), ImageNet 224x224, 1000 classes",
        build=_build_resnet50,
        make_inputs=image_batch,
        published_macs=4.09e9,
        macs_source=(
            "torchvision model table: 4.09 GFLOPS, counted as multiply-adds "
            "(He et al. 2016, table 1 lists 3.8e9)"
        ),
    )


def mobilenet_v2() -> Workload:
    """MobileNetV2 1.0 at 224, the standard depthwise-separable baseline."""
    return Workload(
        name="mobilenet_v2",
        description="MobileNetV2, width 1.0, ImageNet 224x224, 1000 classes",
        build=_build_mobilenet_v2,
        make_inputs=image_batch,
        published_macs=300e6,
        macs_source="Sandler et al. 2018: 300M multiply-adds, 3.4M parameters",
    )


def efficientnet_b0() -> Workload:
    """EfficientNet-B0, the unscaled base of the compound-scaling family.

    ``transformers`` pads stride-2 convs explicitly (TensorFlow "SAME" emulation); there is
    no switch to turn that off, so the exported graph holds a few ``pad`` ops.
    """
    return Workload(
        name="efficientnet_b0",
        description="EfficientNet-B0, ImageNet 224x224, 1000 classes",
        build=_build_efficientnet_b0,
        make_inputs=image_batch,
        published_macs=0.39e9,
        macs_source="Tan & Le 2019, table 2: 0.39B FLOPs (multiply-adds), 5.3M parameters",
    )


def vit_tiny() -> Workload:
    """ViT-Ti/16 (DeiT-Ti) at 224: 196 patches plus a class token, 197 tokens.

    By hand, per layer: QKV and output projections 4·192²·197, MLP 2·192·768·197, attention
    scores and weighted sum 2·197²·192, together 102.1M; times 12 layers, plus the patch
    embedding 196·768·192 and the head 192·1000, is 1.254 GMACs. The paper rounds to 1.3.
    """
    return Workload(
        name="vit_tiny",
        description="ViT-Tiny/16 (DeiT-Ti: 192 wide, 12 layers, 3 heads), 224x224, 1000 classes",
        build=_build_vit_tiny,
        make_inputs=image_batch,
        published_macs=1.3e9,
        macs_source="Touvron et al. 2021 (DeiT-Ti): 1.3 GFLOPs (multiply-adds), 5.7M parameters",
    )


def bert_base() -> Workload:
    """BERT-base encoder on 128 tokens; the reference is a hand count, as papers give none.

    Per layer and token, the Q, K, V and output projections cost 4·768² MACs and the MLP
    2·768·3072; attention scores (QKᵀ) and the weighted sum (AV) cost 2·128·768 per token.
    Over 12 layers and 128 tokens:
    12 × (4·768² + 2·768·3072) × 128 + 12 × 2·128²·768 = 10.87e9 + 0.30e9 ≈ 11.17 GMACs.
    Embedding lookups are gathers, not MACs.
    """
    return Workload(
        name="bert_base",
        description="BERT-base-uncased encoder (12 layers, 768 hidden), 128 tokens, no pooler",
        build=_build_bert_base,
        make_inputs=token_batch,
        published_macs=12 * (4 * 768**2 + 2 * 768 * 3072) * 128 + 12 * 2 * 128**2 * 768,
        macs_source="hand count of projections, MLP and attention at sequence length 128",
    )

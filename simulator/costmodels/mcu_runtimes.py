"""Microcontroller inference runtimes: how fast each runs the kernels, and what memory it needs
besides the activations.

The same int8 layer runs two to three times faster under one runtime than another on the same
board (MLPerf Tiny: TFLite Micro with CMSIS-NN against X-CUBE-AI or Plumerai's engine), so the
runtime is part of the hardware question. Each runtime carries:

- ``efficiency``: modelled CMSIS-NN kernel cycles (``mcu_kernels.py``) over measured cycles,
  fitted on ONE published row, named in ``fitted_on`` (benchmarks/mcu_validation.py does the
  fit and tests/test_mcu.py redoes it from the row). Every other published row of the runtime
  is held out (docs/validation.md). It absorbs what the kernel model leaves out: flash wait
  states, cache misses, padding and border code, the runtime's own kernels where it has them.
- ``per_op_cycles``: the runtime's cost of calling a kernel (# assumed, small).
- the memory planner's rules: in-place depthwise convolution (TinyEngine: Lin et al., MCUNet,
  NeurIPS 2020, section 3.2), the arena alignment, per-kernel scratch buffers (CMSIS-NN's
  im2col buffers, ``arm_convolve_s8_get_buffer_size`` and
  ``arm_depthwise_conv_s8_opt_get_buffer_size``), persistent SRAM per output channel, per
  kernel and per tensor;
- flash per output channel (int32 bias, quantization parameters) and the runtime's code.

TFLite Micro's numbers are read from its source (github.com/tensorflow/tflite-micro, commit
90b983c): ``MicroArenaBufferAlignment()`` is 16; ``kernels/cmsis_nn/conv.cc`` and
``depthwise_conv.cc`` allocate two int32 arrays per output channel (multiplier and shift) as
persistent buffers and request the CMSIS-NN scratch buffer in the arena for the op's lifetime;
a kernel holds a ``NodeAndRegistration`` (``TfLiteNode``: 7 words, and a pointer: 32 B), its
``OpData`` (``OpDataConv`` and the buffer index: 60 B) and builtin parameters
(``TfLiteConvParams``: 28 B); every tensor a 12-byte ``TfLiteEvalTensor``. The flatbuffer holds
per output channel an int32 bias and, for the weight and the bias, a float32 scale and an
int64 zero point (schema ``QuantizationParameters``; convolutions are quantized per channel,
fully connected layers per tensor): 4 B per output channel of every layer, 24 more per
output channel of a convolution. X-CUBE-AI's and Plumerai's planners
are not documented: their memory rows are reported, not validated.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Runtime:
    """One inference runtime (see the module doc)."""

    name: str
    label: str  # as the published rows name it
    efficiency: float  # modelled CMSIS-NN cycles / measured cycles on ``fitted_on``
    fitted_on: str  # the published row (benchmarks/results/mcu_published.csv) it was fitted on
    per_op_cycles: float
    in_place_depthwise: bool
    arena_alignment: int
    scratch_buffers: bool  # CMSIS-NN-style im2col buffers in the arena, alive during their op
    per_channel_sram_bytes: float  # persistent, per output channel of a conv or depthwise
    per_op_sram_bytes: float  # persistent, per kernel
    per_tensor_sram_bytes: float  # persistent, per tensor (activations and parameters)
    bias_flash_bytes: float  # per output channel of a conv or GEMM (an int32 bias)
    conv_channel_flash_bytes: float  # per-channel quantization parameters of a conv
    code_flash_bytes: float  # the runtime's code and kernels


RUNTIMES: dict[str, Runtime] = {
    "tflm_cmsis_nn": Runtime(
        name="tflm_cmsis_nn",
        label="TFLite Micro + CMSIS-NN",
        efficiency=0.2806,  # fitted on the row below (benchmarks/mcu_validation.py --fit)
        fitted_on="mlperf_tiny_v0.5/reference/STM32L4R5ZI/TFLite Micro 2.3.1 + CMSIS-NN/"
        "resnet8_cifar10",
        per_op_cycles=1000.0,  # assumed: the interpreter's Invoke loop and the kernel wrapper
        in_place_depthwise=False,  # GreedyMemoryPlanner gives every tensor its own buffer
        arena_alignment=16,  # micro_arena_constants.h: MicroArenaBufferAlignment()
        scratch_buffers=True,  # conv.cc / depthwise_conv.cc: RequestScratchBufferInArena
        per_channel_sram_bytes=8.0,  # conv.cc: per-channel multiplier and shift, 2 x int32
        per_op_sram_bytes=120.0,  # NodeAndRegistration 32 + OpData 60 + TfLiteConvParams 28
        per_tensor_sram_bytes=12.0,  # TfLiteEvalTensor: data and dims pointers, type
        bias_flash_bytes=4.0,  # int32 bias
        conv_channel_flash_bytes=24.0,  # float32 scale + int64 zero point, of weight and bias
        code_flash_bytes=60_000.0,  # assumed: interpreter, flatbuffer reader, the kernels used
    ),
    "tinyengine": Runtime(
        name="tinyengine",
        label="TinyEngine",
        efficiency=0.5357,  # fitted on the row below (benchmarks/mcu_validation.py --fit)
        fitted_on="tinyengine_readme/MIT HAN lab/STM32H743/TinyEngine 0363956/mbv2_w035_r144",
        per_op_cycles=200.0,  # assumed: generated code calls each kernel directly
        in_place_depthwise=True,  # MCUNet (NeurIPS 2020) 3.2: in-place depthwise convolution
        arena_alignment=4,  # assumed: word alignment of the generated buffer offsets
        scratch_buffers=True,  # its convolution kernels use int16 im2col buffers like CMSIS-NN
        per_channel_sram_bytes=0.0,  # generated code keeps scales and biases in flash
        per_op_sram_bytes=0.0,
        per_tensor_sram_bytes=0.0,
        bias_flash_bytes=4.0,  # int32 bias
        conv_channel_flash_bytes=8.0,  # int32 multiplier + int32 shift
        code_flash_bytes=30_000.0,  # assumed: the generated kernels of one model
    ),
    "x_cube_ai": Runtime(
        name="x_cube_ai",
        label="X-CUBE-AI",
        efficiency=0.5172,  # fitted on the row below (benchmarks/mcu_validation.py --fit)
        fitted_on="mlperf_tiny_v0.7/STMicroelectronics/STM32H7A3ZI/X-CUBE-AI/resnet8_cifar10",
        per_op_cycles=200.0,  # assumed: generated network code
        in_place_depthwise=False,  # assumed: the planner is not documented
        arena_alignment=4,  # assumed
        scratch_buffers=True,  # assumed
        per_channel_sram_bytes=0.0,
        per_op_sram_bytes=0.0,
        per_tensor_sram_bytes=0.0,
        bias_flash_bytes=4.0,  # int32 bias
        conv_channel_flash_bytes=8.0,  # assumed as TinyEngine's
        code_flash_bytes=40_000.0,  # assumed
    ),
    "plumerai": Runtime(
        name="plumerai",
        label="Plumerai inference engine",
        efficiency=0.7290,  # fitted on the row below (benchmarks/mcu_validation.py --fit)
        fitted_on="mlperf_tiny_v1.0/plumerai/STM32F746NG/Plumerai inference engine/resnet8_cifar10",
        per_op_cycles=1000.0,  # assumed: it builds on TFLite Micro's interpreter (its blog)
        in_place_depthwise=False,  # assumed: the planner is not documented
        arena_alignment=16,  # assumed as TFLite Micro's
        scratch_buffers=True,  # assumed
        per_channel_sram_bytes=0.0,
        per_op_sram_bytes=0.0,
        per_tensor_sram_bytes=0.0,
        bias_flash_bytes=4.0,  # int32 bias
        conv_channel_flash_bytes=8.0,  # assumed as TinyEngine's
        code_flash_bytes=60_000.0,  # assumed as TFLite Micro's
    ),
}

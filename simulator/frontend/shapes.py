"""``--input-shape`` text -> shapes and dtype names, without importing torch.

Every frontend (torch.export, ONNX) reads the same syntax, and the graph cache keys on the
parsed value, so parsing lives apart from the frontends that turn it into tensors.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..errors import InputShapeError

# The dtypes an input may be given as (``1,128:int64``), by torch's name for them.
INPUT_DTYPES = ("float32", "float16", "bfloat16", "int64", "int32", "int8", "uint8", "bool")

InputShapes = tuple[tuple[tuple[int, ...], str | None], ...]


def parse_input_shapes(text: str | Sequence[str] | None) -> InputShapes:
    """Parse ``"1,3,224,224"`` (or ``1x3x224x224``), several inputs separated by ``;``, each
    optionally suffixed ``:int64`` for its dtype."""
    if text is None:
        return ()
    parts = [text] if isinstance(text, str) else list(text)
    items = [p.strip() for chunk in parts for p in chunk.split(";") if p.strip()]
    if not items:
        raise InputShapeError(
            f"--input-shape '{';'.join(parts)}': empty; expected positive integers separated by "
            "commas, e.g. 1,3,224,224"
        )
    shapes = []
    for item in items:
        dims, _, dtype = item.partition(":")
        if dtype and dtype not in INPUT_DTYPES:
            raise InputShapeError(
                f"--input-shape '{item}': unknown dtype '{dtype}' "
                f"(use one of {', '.join(INPUT_DTYPES)})"
            )
        tokens = re.split(r"\s*[,x]\s*", dims.strip())
        if not all(t.isdigit() and int(t) > 0 for t in tokens):
            raise InputShapeError(
                f"--input-shape '{item}': expected positive integers separated by commas, "
                "e.g. 1,3,224,224"
            )
        shapes.append((tuple(int(t) for t in tokens), dtype or None))
    return tuple(shapes)


def check_batch(batch: int | None) -> None:
    if batch is not None and batch < 1:
        raise InputShapeError(f"--batch {batch}: the batch size must be a positive integer")

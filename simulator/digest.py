"""SHA-256 of a file, read in blocks: what names a model file in the graph cache, an ONNX
model's external data in its loaded record, and a fit's training files in the profile it
writes (one way, so that the same file has the same name everywhere; a model may be
gigabytes, so it is never read whole)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

"""Crafted hostile files for the security tests: each payload, if it ever runs, creates a
marker file, so a test proves no code ran by the marker's absence, whatever the result."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn


class Opener:
    """Unpickling this calls ``open(marker, 'w')``: the smallest payload that leaves a trace."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.marker, "w"))


def side_effect_prefix(marker: Path) -> bytes:
    """Pickle opcodes that call ``open(marker, 'w')`` and drop the result: spliced in after a
    pickle's PROTO opcode, the pickle still returns its original object."""
    return b"cbuiltins\nopen\n(V" + str(marker).encode() + b"\nVw\ntR0"


def evil_torch_save(obj: Any, marker: Path) -> bytes:
    """``torch.save(obj)`` bytes whose unpickling also opens the marker file."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return splice_data_pkl(buffer.getvalue(), marker)


def splice_data_pkl(saved: bytes, marker: Path) -> bytes:
    """A torch.save zip with the side effect spliced into its data.pkl."""
    return rewrite_zip(
        saved,
        lambda name, data: (
            data[:2] + side_effect_prefix(marker) + data[2:] if name.endswith("/data.pkl") else data
        ),
    )


def rewrite_zip(archive: bytes, change: Any) -> bytes:
    """Every member of a zip passed through ``change(name, data)``, stored uncompressed."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(archive)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, change(info.filename, src.read(info)))
    return out.getvalue()


class TinyLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.fc(x))


def saved_program(tmp: Path) -> bytes:
    """A clean .pt2 of ``TinyLinear`` on a (2, 4) input: 2 x 3 x 4 = 24 MACs."""
    program = torch.export.export(TinyLinear().eval(), (torch.zeros(2, 4),), strict=False)
    path = tmp / "clean.pt2"
    torch.export.save(program, str(path))
    return path.read_bytes()


def edit_program_json(archive: bytes, edit: Any) -> bytes:
    """The archive with its program JSON passed through ``edit(dict) -> dict``."""

    def change(name: str, data: bytes) -> bytes:
        if "/models/" in name and name.endswith(".json"):
            return json.dumps(edit(json.loads(data))).encode()
        return data

    return rewrite_zip(archive, change)


def pickled_payload(marker: Path) -> bytes:
    """A plain pickle (protocol 2) that opens the marker."""
    return pickle.dumps(Opener(marker), protocol=2)

"""A sweep's output directory: a manifest, result parts streamed as chunks finish, and the
final tables.

Each finished chunk of design points is written at once as its own parquet part (written to
a temporary name, then renamed, so a part is whole or absent). An interrupted sweep leaves its
parts behind; the next run with the same spec reads which points they hold and prices only the
rest. The manifest records the spec's digest, so results of another spec are never mixed in.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .spec import SweepError, SweepSpec

MANIFEST = "sweep.json"
PARTS = "parts"


def open_outdir(outdir: Path, spec: SweepSpec) -> None:
    """Create ``outdir`` (or check that its parts belong to ``spec``) and write the manifest."""
    manifest = outdir / MANIFEST
    try:
        outdir.exists()
    except OSError as exc:  # a name too long, a path the OS refuses to look up
        raise SweepError(f"{str(outdir)[:80]}: not a usable path ({exc.strerror})") from None
    if manifest.exists():
        try:
            recorded = json.loads(manifest.read_text()).get("digest")
        except (OSError, ValueError):
            recorded = None
        if recorded != spec.digest():
            raise SweepError(
                f"{outdir}: holds results of a different sweep spec, base profile or model "
                f"file (digest {recorded}, now {spec.digest()}); choose another -o directory "
                "or remove it"
            )
    elif outdir.exists() and not outdir.is_dir():
        raise SweepError(f"{outdir}: exists and is not a directory; choose another -o directory")
    elif outdir.exists() and any(outdir.iterdir()):
        raise SweepError(f"{outdir}: exists and is not a sweep output directory; choose another")
    try:
        (outdir / PARTS).mkdir(parents=True, exist_ok=True)
        manifest.write_text(
            json.dumps(
                {"digest": spec.digest(), "base": spec.base, "keys": list(spec.keys)}, indent=2
            )
            + "\n"
        )
    except OSError as exc:  # a read-only or full disk, a parent that is a file, a long name
        raise SweepError(f"{outdir}: cannot write the sweep there ({exc.strerror})") from None


def column_kinds(spec: SweepSpec) -> dict[str, str]:
    """How each swept key's values are stored: bool, int, float, str, or JSON text (lists,
    mixed types) — fixed by the spec, so every part has the same schema."""
    kinds = {}
    for key, values in spec.params:
        if all(isinstance(v, bool) for v in values):
            kinds[key] = "bool"
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            kinds[key] = "int"
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            kinds[key] = "float"
        elif all(isinstance(v, str) for v in values):
            kinds[key] = "str"
        else:
            kinds[key] = "json"
    for formula in spec.derived:
        kinds[formula.key] = "float"
    return kinds


def _column(values: Sequence[Any], kind: str) -> pa.Array:
    if kind == "json":
        return pa.array([json.dumps(v) for v in values], pa.string())
    types = {"bool": pa.bool_(), "int": pa.int64(), "float": pa.float64(), "str": pa.string()}
    converted = [float(v) for v in values] if kind == "float" else list(values)
    return pa.array(converted, types[kind])


def write_part(
    outdir: Path, columns: Mapping[str, Sequence[Any]], kinds: Mapping[str, str]
) -> None:
    """One finished chunk, atomically."""
    arrays = {
        name: _column(values, kinds[name]) if name in kinds else pa.array(values)
        for name, values in columns.items()
    }
    table = pa.table(arrays)
    first = min(columns["point"]) if columns["point"] else 0
    final = outdir / PARTS / f"part-{first:010d}-{uuid.uuid4().hex[:8]}.parquet"
    tmp = final.with_suffix(".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, final)


def read_parts(outdir: Path) -> pd.DataFrame | None:
    """Every row written so far (None when there is none)."""
    files = sorted((outdir / PARTS).glob("part-*.parquet"))
    if not files:
        return None
    frame = pa.concat_tables([pq.read_table(f) for f in files]).to_pandas()
    return frame.drop_duplicates(subset=["point", "workload", "variant", "batch"])


def done_points(outdir: Path) -> set[int]:
    files = sorted((outdir / PARTS).glob("part-*.parquet"))
    done: set[int] = set()
    for f in files:
        done.update(int(p) for p in pq.read_table(f, columns=["point"]).column(0).to_pylist())
    return done


def write_results(outdir: Path, frame: pd.DataFrame) -> None:
    """The final tables: results.parquet and results.csv."""
    frame.to_parquet(outdir / "results.parquet", index=False)
    frame.to_csv(outdir / "results.csv", index=False)

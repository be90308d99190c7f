"""Read a SCALE-Sim ``.cfg`` as profile data (validated later like any YAML profile).

``hwsim estimate topology.csv --hw scale.cfg`` prices each layer with the systolic model in
its SCALE-Sim mode (one DRAM port per operand, the config's bandwidth mode), so the report
shows SCALE-Sim's cycle accounting next to hwsim's energy. SCALE-Sim has no energy model and
no clock: the energy numbers and the 1 GHz clock below are assumptions, and the profile's
description says so. The topology CSV is read by ``frontend.scalesim_topology``.
"""

from __future__ import annotations

import configparser
import math
from pathlib import Path
from typing import Any

from .errors import ProfileError

# Assumed energies (SCALE-Sim has none): Horowitz ISSCC 2014 at 45 nm, scaled by 0.65 to 28 nm.
_ASSUMED_ENERGY = {
    "mac_pj": 0.15,  # 8-bit multiply 0.2 pJ + add 0.03 pJ, x 0.65
    "sram_pj_per_byte": 5.0,  # 64-256 kB SRAM ~8 pJ/B, x 0.65
    "dram_pj_per_byte": 160.0,  # DRAM 1.3-2.6 nJ per 64-bit access -> ~160-325 pJ/B (low end)
    "static_w": 0.0,
}


MAX_ARRAY_SIDE = 1 << 14  # PEs per side; the largest arrays built are 256 x 256
MAX_SRAM_KB = 1 << 30  # a terabyte of on-chip buffer is a typo, not a design
MAX_BYTES = 1024 * 1024


def _get(cfg: configparser.ConfigParser, section: str, key: str, path: Path) -> str:
    try:
        return cfg.get(section, key).strip()
    except configparser.NoSectionError:
        raise ProfileError(f"{path}: SCALE-Sim config has no [{section}] section") from None
    except configparser.NoOptionError:
        raise ProfileError(f"{path}: SCALE-Sim config has no '{key}' in [{section}]") from None
    except configparser.Error as exc:  # e.g. a bad %-interpolation
        raise ProfileError(f"{path}: [{section}] {key}: {str(exc).splitlines()[0]}") from None


def _int(cfg: configparser.ConfigParser, section: str, key: str, path: Path, high: int) -> int:
    """A whole number in 1..high, or one line naming the section and key."""
    text = _get(cfg, section, key, path)
    try:
        value = int(text)
    except ValueError:
        raise ProfileError(
            f"{path}: [{section}] {key} = '{text[:20]}' is not a whole number"
        ) from None
    if not 1 <= value <= high:
        raise ProfileError(f"{path}: [{section}] {key} = {value} must lie in 1..{high:,}")
    return value


def _rate(cfg: configparser.ConfigParser, section: str, key: str, path: Path) -> float:
    """A bandwidth in words per cycle: finite and positive (SCALE-Sim divides by it). A
    comma-separated list (one per bank) gives its first entry, as SCALE-Sim 3.0.0 reads it."""
    text = _get(cfg, section, key, path).split(",")[0].strip()
    try:
        value = float(text)
    except ValueError:
        raise ProfileError(f"{path}: [{section}] {key} = '{text[:20]}' is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise ProfileError(
            f"{path}: [{section}] {key} = {text[:20]} must be a finite positive number"
        )
    return value


def _read_cfg(path: Path) -> configparser.ConfigParser:
    cfg = configparser.ConfigParser(interpolation=None)  # a '%' in a value is just a '%'
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ProfileError(f"{path}: larger than a SCALE-Sim config can be (1 MiB)")
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ProfileError(
            f"{path}: cannot read SCALE-Sim config ({exc.strerror or exc})"
        ) from None
    except UnicodeDecodeError as exc:
        raise ProfileError(
            f"{path}: not a text SCALE-Sim config (byte {exc.start} is not UTF-8; is it binary?)"
        ) from None
    try:
        cfg.read_string(text)
    except configparser.Error as exc:
        first = str(exc).strip().splitlines()[0][:160]
        raise ProfileError(f"{path}: not a readable SCALE-Sim config ({first})") from None
    return cfg


def profile_data_from_cfg(path: str | Path) -> dict[str, Any]:
    """The profile dictionary (validated like any YAML profile) for a SCALE-Sim config."""
    path = Path(path)
    cfg = _read_cfg(path)
    arch = "architecture_presets"
    rows = _int(cfg, arch, "ArrayHeight", path, MAX_ARRAY_SIDE)
    cols = _int(cfg, arch, "ArrayWidth", path, MAX_ARRAY_SIDE)
    sram_kb = {
        o: _int(cfg, arch, f"{o}SramSzkB", path, MAX_SRAM_KB) for o in ("Ifmap", "Filter", "Ofmap")
    }
    dataflow = _get(cfg, arch, "Dataflow", path).lower()
    if dataflow not in ("ws", "os", "is"):
        raise ProfileError(f"{path}: [{arch}] Dataflow '{dataflow[:20]}' is not one of ws, os, is")
    mode = _get(cfg, "run_presets", "InterfaceBandwidth", path).upper()
    if mode == "USER":
        # SCALE-Sim 3.0.0 feeds the ifmap and filter buffers at the [layout] SRAM-bank
        # bandwidths and drains the ofmap buffer at the first [architecture_presets] Bandwidth.
        ports = {
            "ifmap_bw": _rate(cfg, "layout", "IfmapSRAMBankBandwidth", path),
            "filter_bw": _rate(cfg, "layout", "FilterSRAMBankBandwidth", path),
            "ofmap_bw": _rate(cfg, arch, "Bandwidth", path),
        }
    elif mode == "CALC":
        ports = {"ifmap_bw": 10.0, "filter_bw": 10.0, "ofmap_bw": float(cols)}
    else:
        raise ProfileError(
            f"{path}: [run_presets] InterfaceBandwidth must be USER or CALC, not '{mode[:20]}'"
        )
    name = cfg.get("general", "run_name", fallback=path.stem).strip().strip('"') or path.stem
    sram_bytes = {o.lower(): kb * 1024 for o, kb in sram_kb.items()}
    e = _ASSUMED_ENERGY
    return {
        "name": "".join(c if c.isalnum() or c in "_.-" else "_" for c in name),
        "hw_class": "systolic",
        "description": (
            f"SCALE-Sim config {path.name}: {rows}x{cols} {dataflow.upper()} array, "
            f"{mode} bandwidth; clock (1 GHz) and energies are assumed, not from SCALE-Sim"
        ),
        "clock_hz": 1.0e9,
        "peak_macs_per_cycle": {"int8": rows * cols},
        "vector_ops_per_cycle": cols,
        "default_precision": "int8",
        "memory": [
            {
                "name": "sram",
                "capacity_bytes": sum(sram_bytes.values()),
                "bandwidth_bytes_per_cycle": rows + 2 * cols,
                "read_energy_pj_per_byte": e["sram_pj_per_byte"],
            },
            {
                "name": "dram",
                "capacity_bytes": None,
                "bandwidth_bytes_per_cycle": sum(ports.values()),
                "read_energy_pj_per_byte": e["dram_pj_per_byte"],
            },
        ],
        "energy": {
            "mac_pj": {"int8": e["mac_pj"]},
            "vector_op_pj": 0.1,
            "static_power_w": e["static_w"],
        },
        "fuse_pointwise": False,
        "arch": {
            "rows": rows,
            "cols": cols,
            "dataflow": dataflow,
            "ifmap_sram_bytes": sram_bytes["ifmap"],
            "filter_sram_bytes": sram_bytes["filter"],
            "ofmap_sram_bytes": sram_bytes["ofmap"],
            "word_bytes": 1,
            "scalesim": {"mode": mode, **ports},
        },
    }

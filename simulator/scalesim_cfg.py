"""Read a SCALE-Sim ``.cfg`` as profile data (validated later like any YAML profile).

``hwsim estimate topology.csv --hw scale.cfg`` prices each layer with the systolic model in
its SCALE-Sim mode (one DRAM port per operand, the config's bandwidth mode), so the report
shows SCALE-Sim's cycle accounting next to hwsim's energy. SCALE-Sim has no energy model and
no clock: the energy numbers and the 1 GHz clock below are assumptions, and the profile's
description says so. The topology CSV is read by ``frontend.scalesim_topology``.
"""

from __future__ import annotations

import configparser
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


def _get(cfg: configparser.ConfigParser, section: str, key: str, path: Path) -> str:
    try:
        return cfg.get(section, key).strip()
    except (configparser.NoSectionError, configparser.NoOptionError):
        raise ProfileError(f"{path}: SCALE-Sim config has no '{section}/{key}'") from None


def profile_data_from_cfg(path: str | Path) -> dict[str, Any]:
    """The profile dictionary (validated like any YAML profile) for a SCALE-Sim config."""
    path = Path(path)
    cfg = configparser.ConfigParser()
    try:
        cfg.read_string(path.read_text())
    except (OSError, configparser.Error) as exc:
        raise ProfileError(f"{path}: not a readable SCALE-Sim config ({exc})") from None
    arch = "architecture_presets"
    rows = int(_get(cfg, arch, "ArrayHeight", path))
    cols = int(_get(cfg, arch, "ArrayWidth", path))
    sram_kb = {o: int(_get(cfg, arch, f"{o}SramSzkB", path)) for o in ("Ifmap", "Filter", "Ofmap")}
    dataflow = _get(cfg, arch, "Dataflow", path).lower()
    if dataflow not in ("ws", "os", "is"):
        raise ProfileError(f"{path}: Dataflow '{dataflow}' is not one of ws, os, is")
    mode = _get(cfg, "run_presets", "InterfaceBandwidth", path).upper()
    if mode == "USER":
        # SCALE-Sim 3.0.0 feeds the ifmap and filter buffers at the [layout] SRAM-bank
        # bandwidths and drains the ofmap buffer at the first [architecture_presets] Bandwidth.
        ports = {
            "ifmap_bw": float(_get(cfg, "layout", "IfmapSRAMBankBandwidth", path)),
            "filter_bw": float(_get(cfg, "layout", "FilterSRAMBankBandwidth", path)),
            "ofmap_bw": float(_get(cfg, arch, "Bandwidth", path).split(",")[0]),
        }
    elif mode == "CALC":
        ports = {"ifmap_bw": 10.0, "filter_bw": 10.0, "ofmap_bw": float(cols)}
    else:
        raise ProfileError(f"{path}: InterfaceBandwidth must be USER or CALC, not '{mode}'")
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

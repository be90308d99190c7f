"""Loading hardware profiles: presets, YAML files, SCALE-Sim configs and the host profile.

This module turns data into a ``Profile`` and finds the data; nothing else. The value type
and its validation live in ``hardware``; each class's ``arch`` section is read with the type
the class registry names; ``hwsim calibrate`` (``calibrate``) writes the host profile that
``--hw host`` reads here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from .costmodels.registry import hw_class
from .errors import ProfileError
from .hardware import MemoryLevel, Profile, build_profile
from .scalesim_cfg import profile_data_from_cfg
from .yamlio import read_yaml

__all__ = [
    "HOST_PROFILE",
    "MemoryLevel",
    "Profile",
    "host_profile_path",
    "load_profile",
    "preset_names",
    "preset_path",
    "profile_from_data",
]

PRESET_PACKAGE = "hwsim.hw_profiles"
HOST_PROFILE = "host"  # the calibrated profile of the machine hwsim runs on


def profile_from_data(data: Mapping[str, Any], origin: str) -> Profile:
    """A validated profile from data (a parsed YAML mapping); errors name ``origin``."""
    if not isinstance(data, Mapping):
        raise ProfileError(f"{origin}: a profile must be a YAML mapping of fields")
    name = data.get("hw_class")
    if not isinstance(name, str):
        raise ProfileError(f"{origin}: field 'hw_class': required, the hardware class's name")
    try:
        arch_type = hw_class(name).arch
    except ProfileError as exc:
        raise ProfileError(f"{origin}: field 'hw_class': {exc}") from None
    return build_profile(data, origin, arch_type)


def _read_yaml(path: Path, *, packaged: bool = False) -> dict[str, Any]:
    data = read_yaml(path, "profile", ProfileError, packaged=packaged)
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: a profile must be a YAML mapping of fields")
    return data


def preset_names() -> list[str]:
    root = resources.files(PRESET_PACKAGE)
    return sorted(p.name[: -len(".yaml")] for p in root.iterdir() if p.name.endswith(".yaml"))


def preset_path(name: str) -> Path:
    return Path(str(resources.files(PRESET_PACKAGE).joinpath(f"{name}.yaml")))


def host_profile_path() -> Path:
    """Where ``hwsim calibrate`` writes and ``--hw host`` reads: ``$HWSIM_HOST_PROFILE``, else
    ``$XDG_CACHE_HOME/hwsim/host.yaml`` (``~/.cache/hwsim/host.yaml``)."""
    explicit = os.environ.get("HWSIM_HOST_PROFILE")
    if explicit:
        return Path(explicit)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "hwsim" / "host.yaml"


def load_profile(hw: str | Path | Profile) -> Profile:
    """A profile from a preset name, a YAML path, a SCALE-Sim ``.cfg``, ``host``, or a
    ``Profile`` passed through."""
    if isinstance(hw, Profile):
        return hw
    text = str(hw)
    if text == HOST_PROFILE:
        path = host_profile_path()
        if not path.exists():
            raise ProfileError(
                f"no host profile at {path}: run 'hwsim calibrate' first to measure this machine"
            )
        return profile_from_data(_read_yaml(path), str(path))
    path = Path(text)
    if path.suffix.lower() == ".cfg":  # a SCALE-Sim config
        if not path.exists():
            raise ProfileError(f"{path}: SCALE-Sim config file not found")
        return profile_from_data(profile_data_from_cfg(path), str(path))
    if path.suffix.lower() in (".yaml", ".yml") or path.exists():
        if not path.exists():
            raise ProfileError(f"{path}: profile file not found")
        return profile_from_data(_read_yaml(path), str(path))
    if text in preset_names():
        return profile_from_data(_read_yaml(preset_path(text), packaged=True), f"{text}.yaml")
    raise ProfileError(
        f"unknown hardware profile '{text}': not a file, and not a preset "
        f"({', '.join(preset_names())}); see 'hwsim profiles'"
    )

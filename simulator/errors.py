"""Exceptions a user can act on.

Every error hwsim raises for bad input is a ``HwsimError``: the CLI prints its message as one
line and exits non-zero, so messages must name the file, field or op at fault and say what to
do about it.
"""

from __future__ import annotations


class HwsimError(Exception):
    """Base class: bad input that the user can fix (never an internal bug)."""


class ModelLoadError(HwsimError):
    """A model file is missing, corrupt, or of a kind that needs an explicit opt-in."""


class ProfileError(HwsimError):
    """A hardware profile is unknown or does not validate against the schema."""


class WorkloadError(HwsimError):
    """A built-in workload name is unknown or its weights do not fit it."""


class InputShapeError(HwsimError):
    """An ``--input-shape`` / ``--batch`` value is malformed or does not fit the model."""


class TraceError(HwsimError):
    """torch.export could not trace the model with the given inputs."""


class OutputError(HwsimError):
    """A file the user asked hwsim to write (an archive, a chart) cannot be written there."""

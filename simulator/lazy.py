"""Names a package imports on first use (PEP 562).

``import hwsim`` and ``import hwsim.compression`` must stay cheap: the CLI's help and the
profile listing never need torch or pandas, and an estimate without compression never needs
the transforms. A package lists its public names with the module that defines each, and gets
the module-level ``__getattr__`` and ``__dir__`` that import one on first access.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: a name in ``exports`` is imported from
    its module (relative to ``package``) on first access and kept in ``namespace`` (the
    package's globals), so later accesses are plain attribute reads."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module '{package}' has no attribute '{name}'")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *exports})

    return __getattr__, __dir__

"""Optional test dependencies, checked at collection without importing them.

Every xdist worker imports every test module to collect it: a module-level
``pytest.importorskip("tensorflow")`` cost each worker 4.4 s of CPU (JupyterLab 1.6 s,
nbclient 1.2 s, kubernetes-validate 1.0 s) before the first test ran. ``needs`` only looks the
package up; ``lazy`` imports a module when a test first uses it.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import Any

import pytest


def needs(*modules: str, reason: str | None = None) -> pytest.MarkDecorator:
    """Skip the module's tests unless every package named is installed (found, not imported)."""
    missing = [m for m in modules if importlib.util.find_spec(m.partition(".")[0]) is None]
    return pytest.mark.skipif(bool(missing), reason=reason
                              or f"{', '.join(missing)} is not installed (the dev extra)")


class lazy:
    """A module imported on first attribute access: ``kv = lazy("kubernetes_validate")``."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)

"""``--execer package.module:factory``: load a pluggable execer by name."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from wsep_protocol import Execer

__all__ = ["load_execer"]


def load_execer(spec: str, **kwargs: Any) -> Execer:
    """Import ``package.module:factory`` and call it (or use it if it is an execer).

    ``factory`` may be a class or a function returning an object with an
    ``async def start(command) -> Process`` method; it is called with ``kwargs``
    (none from the command line).
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"execer must be given as package.module:factory, not {spec!r}")
    module = importlib.import_module(module_name)
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part)
    if inspect.isclass(target) or (callable(target) and not isinstance(target, Execer)):
        target = target(**kwargs)
    if not isinstance(target, Execer):
        raise TypeError(f"{spec} did not give an execer (an object with async start(command))")
    return target

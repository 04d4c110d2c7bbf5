"""The route families, one package each: its routes next to its request parsing.

Every module of these packages that defines a module-level ``blueprint`` is served: a new family
is a new package here, and nothing else needs to name it.
"""

from __future__ import annotations

import importlib
import pkgutil

from quart import Blueprint


def route_blueprints() -> tuple[Blueprint, ...]:
    """The blueprints of every route family, in module order."""
    found: list[Blueprint] = []
    for module in sorted(pkgutil.walk_packages(__path__, f"{__name__}."), key=lambda m: m.name):
        blueprint = getattr(importlib.import_module(module.name), "blueprint", None)
        if isinstance(blueprint, Blueprint):
            found.append(blueprint)
    return tuple(found)

"""Every command of DESIGN.md, declared once. :func:`build_registry` collects them for dispatch and registration."""

from __future__ import annotations

from ..registry import CommandRegistry
from . import basic, datasets, feedback, model, review, server, training, voice


def build_registry() -> CommandRegistry:
    registry = CommandRegistry()
    for module in (basic, feedback, review, training, datasets, model, voice, server):
        registry.extend(module.DECLARATIONS)
    return registry

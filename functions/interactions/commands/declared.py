"""Commands whose capability is not built yet: declared (so names and limits are checked and reserved) but not
registered (``ready=False``), so users never see a command that does nothing. Each moves to its own module when
it is built. Every command of DESIGN.md is built today."""

from __future__ import annotations

from ..registry import Command

DECLARATIONS: tuple[Command, ...] = ()

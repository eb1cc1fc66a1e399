"""seats.commands.v1 and seats.events.v1: the vocabulary both share, the commands, the events."""

from __future__ import annotations

from .commands import *  # noqa: F403
from .events import *  # noqa: F403
from .vocabulary import *  # noqa: F403

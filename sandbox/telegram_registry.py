"""The table of emulated Bot API methods: lower-case name -> coroutine implementing it.

Telegram treats method names case-insensitively, so lookups use the lower-cased name.
Implementations register with ``@bot_method("sendMessage")`` in telegram_methods /
telegram_payments.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.telegram_core import EmulatorCore
    from sandbox.telegram_model import BotState
    from sandbox.telegram_params import Params

Impl = Callable[["EmulatorCore", "BotState", "Params"], Awaitable[Any]]
METHODS: dict[str, Impl] = {}
_NAMES: dict[str, str] = {}


def bot_method(name: str) -> Callable[[Impl], Impl]:
    """Register ``fn`` as the implementation of Bot API method ``name``."""

    def register(fn: Impl) -> Impl:
        METHODS[name.lower()] = fn
        _NAMES[name.lower()] = name
        return fn

    return register


def canonical_name(lower: str) -> str:
    """``sendmessage`` -> ``sendMessage`` (for stats keys)."""
    return _NAMES.get(lower, lower)

"""What the root supervisor does when its restart budget is spent: exit the process."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from supervision._errors import RestartIntensityExceeded

logger = logging.getLogger("trt.supervision")

GIVE_UP_EXIT_CODE = 70
"""Process exit status after the root supervisor gives up (``EX_SOFTWARE`` from sysexits.h).

Non-zero, so Docker's or systemd's restart policy starts a fresh node."""

GiveUp = Callable[[RestartIntensityExceeded], None]
"""Called once, on the root supervisor's thread, after all its children have stopped."""


def exit_process(reason: RestartIntensityExceeded) -> None:
    """Default :data:`GiveUp`: log one line and end the process with :data:`GIVE_UP_EXIT_CODE`.

    ``os._exit`` rather than ``sys.exit``: this runs on an actor thread, where ``SystemExit``
    would only end that thread. The children are already stopped; log handlers are flushed
    first so the reason is not lost.
    """
    logger.critical("giving up, exiting with status %d: %s", GIVE_UP_EXIT_CODE, reason)
    for handler in logging.getLogger().handlers + logger.handlers:
        handler.flush()
    os._exit(GIVE_UP_EXIT_CODE)

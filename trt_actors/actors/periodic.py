"""An actor that does one round of work every few seconds, woken by the ticker.

A round that meets the database down is skipped (logged at debug): the next one tries again.
Subclasses set ``ticker`` and ``interval`` in their ``__init__`` and implement ``round``.
"""

from __future__ import annotations

import logging
from typing import Any

from supervision import SupervisedActor
from trt_actors.actors.ticker import Ticker
from trt_actors.errors import DatabaseUnavailable
from trt_actors.messages import Wake


class Periodic(SupervisedActor):
    """``round()`` every ``interval`` seconds."""

    ticker: Ticker
    interval: float
    log: logging.Logger

    def on_start(self) -> None:
        self.ticker.every(self.interval, self.actor_ref, Wake())

    def on_receive(self, message: Any) -> Any:
        match message:
            case Wake():
                try:
                    self.round()
                except DatabaseUnavailable as exc:
                    self.log.debug("%s", exc)
            case _:
                self.log.warning("unexpected message %r", message)
        return None

    def round(self) -> object:
        raise NotImplementedError

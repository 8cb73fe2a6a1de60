"""The alert pusher: what a human must fix, pushed to every admin chat, and its clearing.

Every ``interval`` seconds it gathers the conditions and hands them to
``domain.alert_push`` (which dedups, rate-limits and writes the outbox):

- the node's live alerts (``domain.alerts``, shown on /status): KIE refused the account,
  a Telegram webhook or another poller, the orphan cap;
- KIE's credit balance, polled every ``kie_credits_every`` seconds: under
  ``kie_credits_below`` (``kie_credits``), or the key refused (``kie_key``);
- each model whose failure rate over ``failure_window`` is at least ``failure_rate`` with at
  least ``failure_min_jobs`` jobs ended (``model_failures:<model>``);
- the delivery backlog: the oldest open outbox row older than ``backlog_s``;
- updates parked as poison within ``poison_window``;
- ``supervisor``: raised by ``supervisor_gave_up`` just before the node exits; clears at the
  first look of the next run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from trt_actors.actors.chat import POISON_UPDATES
from trt_actors.actors.periodic import Periodic
from trt_actors.actors.ticker import Ticker
from trt_actors.conversation import texts
from trt_actors.conversation.job_messages import language_of
from trt_actors.domain import alert_push
from trt_actors.domain.alerts import Alerts
from trt_actors.errors import KieAuthError
from trt_actors.infra.store import Store, Tx

log = logging.getLogger("trt.alerts")

SUPERVISOR = "supervisor"
"""The key of "a supervisor gave up a child" (the node exits right after)."""


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    interval: float = 10.0
    """Seconds between looks."""
    min_interval: float = 300.0
    """A key's changes are pushed at most this often (``TRT_ALERT_MIN_INTERVAL_S``)."""
    kie_credits_below: float = 100.0
    """KIE credits under which the admins are told (``TRT_KIE_CREDITS_ALERT_BELOW``; 0: never)."""
    kie_credits_every: float = 300.0
    """Seconds between polls of KIE's credit endpoint (``TRT_KIE_CREDITS_POLL_S``)."""
    failure_rate: float = 0.5
    """A model failing this share of its jobs (``TRT_ALERT_FAILURE_RATE``; 0: never)..."""
    failure_window: float = 900.0
    """...over this many seconds (``TRT_ALERT_WINDOW_S``)..."""
    failure_min_jobs: int = 5
    """...with at least this many jobs ended in the window."""
    backlog_s: float = 120.0
    """Outbox rows waiting longer than this are a backlog (``TRT_ALERT_BACKLOG_S``)."""
    poison_window: float = 3600.0
    """Updates parked as poison within this many seconds keep the alert up."""


def alert_text(tx: Tx) -> alert_push.Text:
    """The line an admin reads, in their language."""
    def text(admin: int, raised: bool, message: str) -> str:
        return texts.t(language_of(tx, admin), "alert.raised" if raised else "alert.cleared",
                       message=message)
    return text


def supervisor_gave_up(store: Store, admins: Collection[int], reason: str) -> None:
    """Tell the admins now (the node exits next; delivery sends it after the restart)."""
    with store.transaction() as tx:
        alert_push.raise_now(tx, SUPERVISOR, f"the supervisor gave up ({reason}); "
                             "the node exits to be restarted", admins, alert_text(tx))


class AlertPusher(Periodic):
    """A permanent child of the node's supervisor; its facts are in PostgreSQL."""

    def __init__(self, store: Store, ticker: Ticker, alerts: Alerts, admins: Collection[int],
                 wake_delivery: Callable[[], None], policy: AlertPolicy | None = None,
                 kie_credits: Callable[[], float] | None = None) -> None:
        super().__init__()
        self.store, self.ticker, self.alerts = store, ticker, alerts
        self.admins, self.wake_delivery = frozenset(admins), wake_delivery
        self.policy = policy or AlertPolicy()
        self.interval, self.log = self.policy.interval, log
        self.kie_credits = kie_credits
        self.kie_state: dict[str, str] = {}
        """The KIE conditions from the last poll (kept between polls)."""
        self.polled_at = -1e18

    def round(self) -> list[str]:
        return self.look()

    def look(self) -> list[str]:
        """Gather, record, push; the keys pushed now."""
        active = self.conditions()
        with self.store.transaction() as tx:
            alert_push.observe(tx, active)
            pushed = alert_push.notify(tx, self.admins, alert_text(tx),
                                       min_interval=self.policy.min_interval)
        if pushed:
            log.info("alerts pushed to %d admin(s): %s", len(self.admins), ", ".join(pushed))
            self.wake_delivery()
        return pushed

    def conditions(self) -> dict[str, str]:
        p = self.policy
        active = {a["key"]: a["message"] for a in self.alerts.snapshot()
                  if a["key"] != POISON_UPDATES}
        active.update(self._kie())
        for row in self.store.all("alert_model_failures", window_s=p.failure_window):
            ended, failed = int(row["ended"]), int(row["failed"])
            if p.failure_rate > 0 and ended >= p.failure_min_jobs \
                    and failed >= p.failure_rate * ended:
                active[f"model_failures:{row['model_id']}"] = (
                    f"model {row['model_id']}: {failed} of {ended} jobs failed in the last "
                    f"{p.failure_window / 60:g} min")
        outbox = self.store.one("status_outbox")
        oldest = (outbox or {}).get("oldest_open_s") or 0.0
        if oldest > p.backlog_s:
            active["delivery_backlog"] = (
                f"delivery backlog: {outbox['pending'] if outbox else 0} message(s) waiting, "
                f"the oldest for {oldest:.0f} s")
        poison = self.store.one("alert_poison_recent", window_s=p.poison_window)
        if poison and poison["count"]:
            active[POISON_UPDATES] = (f"{poison['count']} Telegram update(s) failed every "
                                      f"attempt and were parked as poison (see /status)")
        return active

    def _kie(self) -> dict[str, str]:
        p = self.policy
        now = time.monotonic()
        if self.kie_credits is None or now - self.polled_at < p.kie_credits_every:
            return self.kie_state
        self.polled_at = now
        try:
            credits = self.kie_credits()
        except KieAuthError as exc:
            self.kie_state = {"kie_key": f"KIE refuses the API key: {exc}"}
        except Exception as exc:  # KIE unreachable: keep what the last answer said
            log.info("alerts: KIE credits not read: %s", exc)
        else:
            self.kie_state = {}
            if p.kie_credits_below > 0 and credits < p.kie_credits_below:
                self.kie_state["kie_credits"] = (
                    f"KIE credit balance is {credits:g}, under {p.kie_credits_below:g}: "
                    "top up at kie.ai")
        return self.kie_state

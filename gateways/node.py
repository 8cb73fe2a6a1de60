"""The composition root: builds every part of the node from the settings and supervises it.

Supervision tree (one_for_one at the root; children start in this order and stop in the
reverse one, so intake stops first and delivery last):

    node
    ├── delivery    the only writer to Telegram (outbox → Telegram)
    ├── callbacks   Tornado callback gateway (KIE → callback inbox → job actors)
    ├── poller      KIE status polling (due jobs → recordInfo → job actors)
    ├── janitor     due submits, deadlines, unapplied callbacks, orphans
    ├── status      /status, /healthz, /readyz, /metrics
    │   ... and while this worker holds their lease (node-wide singletons):
    ├── broadcaster broadcast recipients into the outbox, paced, results first
    ├── alerts      alerts pushed to the admin chats (KIE credits polled here)
    └── intake      Telegram long polling (getUpdates → update inbox → chat actors)

Job and chat actors are virtual (``Router``): not children of the tree, because there is
nothing to restart — their state is in PostgreSQL and the janitor re-drives anything due.

One node may be several worker processes, and several nodes may share one database: each
process runs this whole tree over the chats of the partitions it leases (``Leases``), the
singletons on whichever worker holds their lease, wake-ups between them by LISTEN/NOTIFY
(``Wakeups``). Alone, a worker leases everything.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gateways.kie import Callbacks, KieClient, KieUploader, Poller, parse_callback
from gateways.kie.abuse import AbusePolicy
from gateways.published import Published
from gateways.status import ExtraRoutes, Status
from gateways.telegram import Delivery, Intake
from gateways.telegram.files import FileTransfers
from gateways.wakeups import OUTBOX, Wakeups
from supervision import (
    ChildSpec,
    DuplicateChild,
    OneForOneSupervisor,
    Restart,
    UnknownChild,
    exit_process,
)
from trt_actors import (
    AccountPolicy,
    AlertPolicy,
    AlertPusher,
    Alerts,
    Broadcaster,
    BroadcastPolicy,
    Catalog,
    ChatDeps,
    Janitor,
    JanitorPolicy,
    JobDeps,
    JobMessages,
    LeaseChange,
    Leases,
    LiveCatalog,
    OrphanCap,
    Router,
    Settings,
    Store,
    SubmitPolicy,
    TaskReport,
    Ticker,
    Wake,
    chat_router,
    job_router,
    supervisor_gave_up,
    validate_input,
)

log = logging.getLogger("trt.node")


PUBLISHING = ("delivery", "callbacks", "poller", "intake")
"""The children that publish a status view (``gateways.published``) for /status."""
SINGLETON_CHILDREN = ("broadcaster", "alerts", "intake")
"""Children that run on one worker of all (the holder of the lease of the same name)."""


def _split(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


def _report_of(body: bytes) -> TaskReport | None:
    return parse_callback(body).report


class Node:
    """Everything one ``run_node.py run`` process runs."""

    def __init__(self, settings: Settings, conninfo: str, catalog: Catalog, *,
                 on_give_up: Callable[[Any], None] | None = None,
                 janitor_policy: JanitorPolicy | None = None,
                 submit_policy: SubmitPolicy | None = None,
                 status_routes: ExtraRoutes | None = None) -> None:
        self.settings, self.conninfo, self.catalog = settings, conninfo, catalog
        self.started_at = time.time()
        self.store = Store(conninfo, min_size=2, max_size=16)
        self.ticker = Ticker()
        self.alerts = Alerts()
        s = settings
        self.leases = Leases(self.store, node=s.node_name, slot=s.worker_slot,
                             info=self._worker_info,
                             expected=s.workers if s.worker_slot is not None else 1,
                             busy=self._busy_parts)
        leases = self.leases
        self.kie = KieClient(s.kie_api_url, s.kie_api_key.get_secret_value(),
                             create_limit=(s.kie_create_per_10s, 10.0),
                             status_limit=(int(s.kie_status_per_s), 1.0), share=leases.share)
        self.job_messages = JobMessages(catalog, referral_credits=s.referral_credits,
                                        progress_after_s=s.progress_after_s)
        self.live_catalog = LiveCatalog(catalog, s.credits_per_kie_credit)
        """The catalog as users see it now: the operator's prices and switches over it."""
        token = s.telegram_token.get_secret_value()
        # Users' files: Telegram → KIE's upload API on the edge's own transfer pool; the
        # outcome goes to the chat actor as a message.
        self.uploader = KieUploader(s.kie_upload_url, s.kie_api_key.get_secret_value())
        self.transfers = FileTransfers(token, s.telegram_api_url, self.uploader,
                                       lambda chat_id, message: self.chats.route(chat_id,
                                                                                 message))
        self.components: dict[str, Any] = {}
        self.published = {name: Published() for name in PUBLISHING}
        """Each publishing child's status view (every incarnation publishes to the same)."""
        pub = self.published
        policy = submit_policy or SubmitPolicy(
            callback_base_url=s.public_callback_url,
            unknown_grace=20.0 if s.public_callback_url else 5.0)
        policy = dataclasses.replace(policy, upload_ttl=s.kie_upload_ttl_s)
        self.jobs_call_s = policy.call_timeout
        self.jobs: Router = job_router(JobDeps(
            store=self.store, kie=self.kie, job_messages=self.job_messages,
            validate=lambda model_id, values: validate_input(catalog.get(model_id), values),
            alerts=self.alerts, policy=policy, transfers=self.transfers,
            after_commit=self.wake_delivery),
            max_active=s.max_job_actors)
        self.chats: Router = chat_router(ChatDeps(
            store=self.store, catalog=self.live_catalog, jobs=self.jobs,
            job_messages=self.job_messages,
            admin_ids=s.admin_ids, welcome_credits=s.welcome_credits,
            free_daily_limit=s.free_daily_limit, wake_delivery=self.wake_delivery,
            alerts=self.alerts, transfers=self.transfers, account=AccountPolicy(
                max_jobs_in_flight=s.max_jobs_in_flight, confirms_per_min=s.confirm_rate_per_min,
                promo_misses_per_hour=s.promo_misses_per_hour, terms_text=s.terms_text,
                paysupport_text=s.paysupport_text)))
        cb_host, cb_port = _split(s.callback_listen)
        st_host, st_port = _split(s.status_listen)
        janitor_policy = janitor_policy or JanitorPolicy(retention=s.retention_days * 86400.0)
        self.orphan_cap = OrphanCap(s.orphan_max_rows, s.orphan_max_bytes)
        janitor_policy = dataclasses.replace(janitor_policy, orphan_cap=self.orphan_cap)
        abuse = AbusePolicy(forged_limit=s.callback_forged_limit,
                            window_s=s.callback_forged_window_s, block_s=s.callback_block_s)
        c = self.components

        def keep(name: str, ref: Any) -> Any:
            c[name] = ref
            return ref

        self.singletons = {spec.id: spec for spec in [
            ChildSpec("broadcaster", lambda: keep("broadcaster", Broadcaster.start(
                self.store, self.ticker, self.wake_everywhere, BroadcastPolicy(
                    per_second=min(s.broadcast_per_s, 0.75 * s.telegram_per_s))))),
            ChildSpec("alerts", lambda: keep("alerts", AlertPusher.start(
                self.store, self.ticker, self.alerts, s.admin_ids, self.wake_everywhere,
                AlertPolicy(interval=min(10.0, s.kie_credits_poll_s),
                            min_interval=s.alert_min_interval_s,
                            kie_credits_below=s.kie_credits_alert_below,
                            kie_credits_every=s.kie_credits_poll_s,
                            failure_rate=s.alert_failure_rate, failure_window=s.alert_window_s,
                            backlog_s=s.alert_backlog_s),
                kie_credits=self.kie.credits))),
            ChildSpec("intake", lambda: keep("intake", Intake.start(
                self.store, self.chats, token, s.telegram_api_url,
                alerts=self.alerts, published=pub["intake"], owns=leases.owns_chat,
                parts=leases.parts, lease_left=lambda: leases.valid_for("intake")))),
        ]}
        self.wakeups = Wakeups(self.store, leases, self.chats, self.jobs, _report_of,
                               self.wake_delivery,
                               lambda: (self.snapshot("delivery") or {}).get("epoch"))
        self._lease_work = ThreadPoolExecutor(1, thread_name_prefix="lease-changes")
        self._singletons_lock = threading.Lock()
        self.root = OneForOneSupervisor("node", [
            ChildSpec("delivery", lambda: keep("delivery", Delivery.start(
                self.store, token, s.telegram_api_url, self.job_messages,
                per_second=s.telegram_per_s, per_chat_per_second=s.telegram_per_chat_s,
                chat_burst=s.telegram_chat_burst,
                media_read_timeout=s.telegram_media_timeout_s,
                published=pub["delivery"], parts=leases.parts, share=leases.share))),
            ChildSpec("callbacks", lambda: keep("callbacks", Callbacks.start(
                self.store, self.jobs, cb_host, cb_port,
                s.kie_hmac_key.get_secret_value() if s.kie_hmac_key else None,
                published=pub["callbacks"], abuse=abuse, orphan_cap=self.orphan_cap,
                owns=leases.owns_chat, reuse_port=s.worker_slot is not None))),
            ChildSpec("poller", lambda: keep("poller", Poller.start(
                self.store, self.kie, self.jobs, self.ticker,
                rate_per_s=s.kie_status_per_s, published=pub["poller"],
                parts=leases.parts, share=leases.share))),
            ChildSpec("janitor", lambda: keep("janitor", Janitor.start(
                self.store, self.jobs, _report_of, self.ticker, janitor_policy,
                submit_budget=self.kie.create_budget, alerts=self.alerts,
                chats=self.chats, parts=leases.parts,
                leader=lambda: leases.holds("janitor")))),
            ChildSpec("status", lambda: keep("status", Status.start(
                self, st_host, st_port, status_routes, reuse_port=s.worker_slot is not None)),
                      restart=Restart.PERMANENT),
        ], intensity=10, period=60.0, on_give_up=self._gave_up(on_give_up or exit_process))

    def _gave_up(self, then: Callable[[Any], None]) -> Callable[[Any], None]:
        """The root gave up: tell the admins (queued now, sent after the restart), then
        ``then`` (by default the process exits with 70)."""
        def gave_up(error: Any) -> None:
            try:
                supervisor_gave_up(self.store, self.settings.admin_ids, str(error)[:300])
            except Exception as exc:  # the database may be why it gave up
                log.error("node: the supervisor alert was not queued: %s", exc)
            then(error)
        return gave_up

    def start(self) -> Node:
        self.store.open(wait=True, timeout=30)
        # The first round before any child: a lone worker holds every partition (and the
        # fence its connections carry) before anything writes.
        self.leases.on_change(self._leases_changed)
        self.leases.start()
        self.root.start()
        self.wakeups.start()
        self._sync_singletons()  # a lone worker leaves start() with intake running
        # The first round's partitions: what waits in them (the round ran before the tree).
        self._lease_work.submit(self.wakeups.redrive, self.leases.parts())
        log.info("node started: %d models in the catalog; worker %s", len(self.catalog),
                 self.leases.worker_id)
        return self

    def _leases_changed(self, change: LeaseChange) -> None:
        """On the leases thread: the work it implies goes to a thread of its own (stopping
        a singleton may take seconds, and renewals must not wait for it)."""
        with contextlib.suppress(RuntimeError):  # stopping: nothing more to start
            self._lease_work.submit(self._apply_change, change)

    def _apply_change(self, change: LeaseChange) -> None:
        self._sync_singletons()
        if change.gained_parts and self.root.is_running():
            self.wakeups.redrive(change.gained_parts)

    def _sync_singletons(self) -> None:
        """Run each singleton child here exactly while this worker holds its lease."""
        with self._singletons_lock:
            if not self.root.is_running():
                return
            for name, spec in self.singletons.items():
                held, running = self.leases.holds(name), self.root.child_ref(name) is not None
                try:
                    if held and not running:
                        log.info("node: %s starts on this worker (lease held)", name)
                        self.root.start_child(spec)
                    elif running and not held:
                        log.warning("node: %s stops on this worker (lease lost)", name)
                        self.root.terminate_child(name)
                except (DuplicateChild, UnknownChild):
                    pass  # restarting, or stopped meanwhile: the next change looks again
                except Exception:
                    log.exception("node: %s could not be %s", name,
                                  "started" if held else "stopped")

    def _busy_parts(self, parts: list[int]) -> set[int]:
        """Of the partitions being given back, those still in use here (``Leases``)."""
        epoch = (self.snapshot("delivery") or {}).get("epoch")
        rows = self.store.all("partitions_busy", parts=parts, epoch=epoch,
                              call_s=self.jobs_call_s)
        return {int(r["part"]) for r in rows}

    def _worker_info(self) -> dict[str, Any]:
        """What this worker publishes with its heartbeat (/status of any worker shows it)."""
        delivery = self.snapshot("delivery") or {}
        poller = self.snapshot("poller") or {}
        return {"actors": {"jobs": self.jobs.snapshot()["active"],
                           "chats": self.chats.snapshot()["active"]},
                "rates": {"sent_per_s": delivery.get("rate_per_s"),
                          "polls_per_s": poller.get("rate_per_s")},
                "children": sorted(c["id"] for c in self.root.snapshot().get("children", [])
                                   if c.get("state") == "running")}

    def wake_everywhere(self) -> None:
        """Rows queued for chats of any worker (broadcasts, alerts): this worker's delivery
        and, through the database, every other's."""
        self.wake_delivery()
        with contextlib.suppress(Exception):  # their delivery looks every 0.5 s anyway
            self.store.one("wake", payloads=[OUTBOX])

    def wake_delivery(self) -> None:
        """Tell the delivery actor to look at the outbox now (called after a commit that
        queued rows). A Wake already waiting in its inbox will look after this commit too,
        so a burst of results costs one claim, not one per result."""
        ref = self.root.child_ref("delivery")
        if ref is not None and ref.actor_inbox.empty():
            with contextlib.suppress(Exception):
                ref.tell(Wake())

    def stop(self) -> None:
        """Graceful: intake and gateways stop first, in-flight sends finish, pool closes."""
        log.info("node stopping")
        self.wakeups.stop()
        self._lease_work.shutdown(wait=True, cancel_futures=True)
        self.root.stop(timeout=30)
        self.chats.close()
        self.jobs.close()
        self.leases.stop()  # after every actor: their last writes carry the fence
        self.ticker.stop()
        self.transfers.close()
        self.uploader.close()
        self.kie.close()
        self.store.close()
        log.info("node stopped")

    def snapshot(self, name: str) -> dict[str, Any] | None:
        """The status view child ``name`` published (one of ``PUBLISHING``), ``None`` while
        the child is not running. Any thread; never waits on the child's mailbox."""
        if self.root.child_ref(name) is None:
            return None
        return self.published[name].read()

"""The actors: virtual job and chat actors behind their routers, the janitor, the ticker.

Job and chat actors are *virtual*: a :class:`Router` starts one when a message for its key
arrives and it passivates when idle; their state lives in PostgreSQL.
"""

from trt_actors.actors.alert_pusher import AlertPolicy, AlertPusher, supervisor_gave_up
from trt_actors.actors.broadcaster import Broadcaster, BroadcastPolicy
from trt_actors.actors.chat import ChatActor, ChatDeps, chat_router
from trt_actors.actors.chat_rules import BOT_USERNAME_KEY
from trt_actors.actors.janitor import Janitor, JanitorPolicy
from trt_actors.actors.job import JobActor, JobDeps, SubmitPolicy, job_router
from trt_actors.actors.leases import (
    PARTITIONS,
    SINGLETONS,
    LeaseChange,
    LeasePolicy,
    Leases,
    partition_of,
)
from trt_actors.actors.router import Router, VirtualActor
from trt_actors.actors.ticker import Ticker

__all__ = [
    "BOT_USERNAME_KEY",
    "PARTITIONS",
    "SINGLETONS",
    "AlertPolicy",
    "AlertPusher",
    "BroadcastPolicy",
    "Broadcaster",
    "ChatActor",
    "ChatDeps",
    "Janitor",
    "JanitorPolicy",
    "JobActor",
    "JobDeps",
    "LeaseChange",
    "LeasePolicy",
    "Leases",
    "Router",
    "SubmitPolicy",
    "Ticker",
    "VirtualActor",
    "chat_router",
    "job_router",
    "partition_of",
    "supervisor_gave_up",
]

"""Fault specifications of the KIE emulator, parsed from the JSON of ``/_control/faults``.

The JSON shape is documented in the ``kie_emulator`` module docstring. Parsing is strict
(unknown keys raise ValueError) so a misspelt fault never silently tests nothing. Triggers
keep mutable ``next`` counters; callers hold the emulator lock while asking ``fires``.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping
from typing import Any

ENDPOINT_GROUPS = ("create", "status", "credit", "upload")
ENDPOINT_NAMES = (
    "market.create",
    "veo.create",
    "suno.create",
    "market.status",
    "veo.status",
    "suno.status",
    # the other families (kie_family_handlers)
    "runway.create", "runway_extend.create", "runway_aleph.create", "midjourney.create",
    "gpt4o_image.create", "flux_kontext.create", "veo_extend.create", "veo_4k.create",
    "suno_extend.create", "runway.status", "runway_aleph.status", "midjourney.status",
    "gpt4o_image.status", "flux_kontext.status", "veo_1080p.status",
    "credit",
    "upload.stream",
    "upload.base64",
    "upload.url",
)
CALLBACK_FAULTS = (
    "drop",
    "duplicate",
    "delay",
    "early",
    "out_of_order",
    "malformed",
    "wrong_token",
    "wrong_hmac",
    "stale_timestamp",
)
MALFORMED_MODES = ("truncated", "not_json", "wrong_types")
_TRIGGER_KEYS = {"fraction", "next", "models"}


@dataclasses.dataclass
class Trigger:
    """When a fault fires: the next ``next`` matches, then each match with ``fraction``.

    A trigger given with neither ``next`` nor ``fraction`` fires on every match. ``models``
    (optional) restricts it to those model ids.
    """

    fraction: float = 0.0
    next: int = 0
    models: list[str] | None = None

    def fires(self, rng: random.Random, model: str | None) -> bool:
        """Decide (and consume one ``next``) for one match; caller holds the lock."""
        if self.models is not None and model not in self.models:
            return False
        if self.next > 0:
            self.next -= 1
            return True
        return self.fraction > 0 and (self.fraction >= 1 or rng.random() < self.fraction)


@dataclasses.dataclass
class EndpointRule:
    """One endpoint fault: an error answer, a delayed answer, or a dropped connection."""

    trigger: Trigger
    kind: str = "error"
    http_status: int = 500
    body_code: int | None = None
    msg: str = "injected fault"
    retry_after: float | None = None
    raw_body: str | None = None
    delay_s: float = 30.0


@dataclasses.dataclass
class CallbackFault:
    """One callback fault with its parameters (``times``, ``seconds``, ``mode``)."""

    trigger: Trigger
    times: int = 2
    seconds: float = 1.0
    mode: str = "truncated"


@dataclasses.dataclass
class TaskFault:
    """Forced task outcome: ``fail`` (with ``code``/``msg``) or ``stuck`` (never ends)."""

    trigger: Trigger
    code: str = "500"
    msg: str = "internal error"


@dataclasses.dataclass
class FaultSpec:
    """Everything injectable, parsed from one JSON document."""

    endpoints: dict[str, list[EndpointRule]] = dataclasses.field(default_factory=dict)
    callbacks: dict[str, CallbackFault] = dataclasses.field(default_factory=dict)
    tasks: dict[str, TaskFault] = dataclasses.field(default_factory=dict)
    source: dict[str, Any] = dataclasses.field(default_factory=dict)

    def endpoint_rule(self, name: str, rng: random.Random,
                      model: str | None) -> EndpointRule | None:
        """The first rule for endpoint ``name`` (specific, then group, then ``*``) that fires."""
        group = ("create" if name.endswith(".create") else "upload" if name.startswith("upload.")
                 else "status" if "." in name else name)
        for key in (name, group, "*"):
            for rule in self.endpoints.get(key, ()):
                if rule.trigger.fires(rng, model):
                    return rule
        return None

    def callback(self, name: str, rng: random.Random, model: str | None) -> CallbackFault | None:
        """The callback fault ``name`` if it fires for this callback/task, else None."""
        fault = self.callbacks.get(name)
        if fault is not None and fault.trigger.fires(rng, model):
            return fault
        return None

    def task(self, name: str, rng: random.Random, model: str | None) -> TaskFault | None:
        """The task fault ``name`` (``fail`` or ``stuck``) if it fires for a new task."""
        fault = self.tasks.get(name)
        if fault is not None and fault.trigger.fires(rng, model):
            return fault
        return None


def _check_keys(where: str, obj: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}")


def _trigger(where: str, obj: Mapping[str, Any]) -> Trigger:
    if "next" not in obj and "fraction" not in obj:
        fraction, nxt = 1.0, 0
    else:
        fraction, nxt = float(obj.get("fraction", 0.0)), int(obj.get("next", 0))
    if not 0.0 <= fraction <= 1.0 or nxt < 0:
        raise ValueError(f"{where}: fraction must be in [0, 1] and next >= 0")
    models = obj.get("models")
    if models is not None and not (
        isinstance(models, list) and all(isinstance(m, str) for m in models)
    ):
        raise ValueError(f"{where}: models must be a list of strings")
    return Trigger(fraction=fraction, next=nxt, models=models)


def _endpoint_rule(where: str, obj: Any) -> EndpointRule:
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: a rule must be an object")
    keys = _TRIGGER_KEYS | {"kind", "http_status", "body_code", "msg", "retry_after", "raw_body",
                            "delay_s"}
    _check_keys(where, obj, keys)
    kind = obj.get("kind", "error")
    if kind not in ("error", "delay", "drop"):
        raise ValueError(f"{where}: kind must be error, delay or drop")
    body_code = obj.get("body_code")
    retry_after = obj.get("retry_after")
    raw_body = obj.get("raw_body")
    return EndpointRule(
        trigger=_trigger(where, obj),
        kind=kind,
        http_status=int(obj.get("http_status", 500)),
        body_code=None if body_code is None else int(body_code),
        msg=str(obj.get("msg", "injected fault")),
        retry_after=None if retry_after is None else float(retry_after),
        raw_body=None if raw_body is None else str(raw_body),
        delay_s=float(obj.get("delay_s", 30.0)),
    )


def parse_faults(spec: Mapping[str, Any] | None) -> FaultSpec:
    """Parse the ``/_control/faults`` JSON; raises ValueError on anything unknown."""
    spec = dict(spec or {})
    _check_keys("faults", spec, {"endpoints", "callbacks", "tasks"})
    result = FaultSpec(source=spec)
    for name, rules in dict(spec.get("endpoints") or {}).items():
        if name not in ENDPOINT_NAMES and name not in ENDPOINT_GROUPS and name != "*":
            raise ValueError(f"endpoints: unknown endpoint {name!r}")
        rule_list = rules if isinstance(rules, list) else [rules]
        result.endpoints[name] = [
            _endpoint_rule(f"endpoints.{name}[{i}]", r) for i, r in enumerate(rule_list)
        ]
    for name, obj in dict(spec.get("callbacks") or {}).items():
        where = f"callbacks.{name}"
        if name not in CALLBACK_FAULTS or not isinstance(obj, dict):
            raise ValueError(f"{where}: unknown callback fault or not an object")
        _check_keys(where, obj, _TRIGGER_KEYS | {"times", "seconds", "mode"})
        mode = str(obj.get("mode", "truncated"))
        if mode not in MALFORMED_MODES:
            raise ValueError(f"{where}: mode must be one of {MALFORMED_MODES}")
        result.callbacks[name] = CallbackFault(
            trigger=_trigger(where, obj),
            times=int(obj.get("times", 2)),
            seconds=float(obj.get("seconds", 1.0)),
            mode=mode,
        )
    for name, obj in dict(spec.get("tasks") or {}).items():
        where = f"tasks.{name}"
        if name not in ("fail", "stuck") or not isinstance(obj, dict):
            raise ValueError(f"{where}: unknown task fault or not an object")
        _check_keys(where, obj, _TRIGGER_KEYS | {"code", "msg"})
        result.tasks[name] = TaskFault(
            trigger=_trigger(where, obj),
            code=str(obj.get("code", "500")),
            msg=str(obj.get("msg", "internal error")),
        )
    return result

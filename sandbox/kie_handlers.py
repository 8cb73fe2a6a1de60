"""Tornado handlers of the KIE emulator: the three API families, credits and media.

Order of checks on an API call: count it, injected endpoint error, auth, rate limit, body
validation, credits, create/look up, injected delay or dropped connection, answer. So an
injected ``delay``/``drop`` on a create endpoint happens AFTER the task exists: the client
times out or loses the connection, yet the task runs and calls back.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Callable
from http.client import responses
from typing import Any, ClassVar

from tornado.web import RequestHandler

from sandbox.kie_callbacks import CallbackSender
from sandbox.kie_core import EmulatorCore
from sandbox.kie_families import record_data
from sandbox.kie_faults import EndpointRule
from sandbox.kie_inputs import refuse_inputs
from sandbox.kie_media import CONTENT_TYPES, base_media, padded
from sandbox.kie_validate import Refusal, validate_market, validate_suno, validate_veo

_REASONS = {455: "Service Unavailable", 501: "Generation Failed", 505: "Feature Disabled"}
_MEDIA_NAME = re.compile(r"^(s|img)?(\d+)\.(png|mp4|mp3)$")


class KieHandler(RequestHandler):
    """Shared plumbing: the envelope, injected faults, auth and rate limits."""

    endpoint: ClassVar[str] = ""

    def initialize(self, core: EmulatorCore, sender: CallbackSender,
                   tick: Callable[[], None]) -> None:
        self.core, self.sender, self.tick = core, sender, tick

    def compute_etag(self) -> None:
        return None  # answers change between polls; hashing them is wasted work

    def envelope(self, http_status: int, code: int, msg: str, data: Any = None, *,
                 natural: bool = True) -> None:
        """Answer ``{"code", "msg", "data"}``; KIE-style errors may ride an HTTP 200."""
        if natural and code != 200 and self.core.config.errors_in_http_200:
            http_status = 200
        self.set_status(http_status, _REASONS.get(http_status) or responses.get(http_status))
        self.set_header("Content-Type", "application/json")
        self.core.count_answer(self.endpoint, code)
        self.finish(json.dumps({"code": code, self.core.config.message_key: msg, "data": data}))

    def answer_fault(self, rule: EndpointRule) -> None:
        if rule.retry_after is not None:
            self.set_header("Retry-After", str(math.ceil(rule.retry_after)))
        if rule.raw_body is not None:
            self.set_status(rule.http_status, _REASONS.get(rule.http_status)
                            or responses.get(rule.http_status) or "Error")
            self.core.count_answer(self.endpoint, f"raw{rule.http_status}")
            self.finish(rule.raw_body)
            return
        code = rule.body_code if rule.body_code is not None else rule.http_status
        self.envelope(rule.http_status, code, rule.msg, natural=False)

    def refuse_auth_or_limit(self, category: str | None) -> bool:
        """Answer 401 or 429 and return True when the call must stop here."""
        if not self.core.authorized(self.request.headers.get("Authorization")):
            self.envelope(401, 401, "You do not have access permissions")
            return True
        if category is not None:
            retry_after = self.core.admit(category)
            if retry_after is not None:
                self.set_header("Retry-After", str(max(math.ceil(retry_after), 1)))
                self.envelope(429, 429, "Rate limited: too many requests, try again later")
                return True
        return False

    async def after_work(self, rule: EndpointRule | None) -> bool:
        """Apply an injected delay (then answer normally) or drop; True when dropped."""
        if rule is None or rule.kind == "error":
            return False
        if rule.kind == "delay":
            await asyncio.sleep(rule.delay_s)  # the client has usually given up by now
            return False
        self.detach().close()
        return True


class CreateHandler(KieHandler):
    """Base of the three create endpoints."""

    family: ClassVar[str] = "market"

    def refusal(self, body: dict[str, Any]) -> Refusal:
        raise NotImplementedError

    def model_and_prompt(self, body: dict[str, Any]) -> tuple[str, str]:
        raise NotImplementedError

    async def post(self) -> None:
        core = self.core
        core.count_call(self.endpoint)
        try:
            body = json.loads(self.request.body or b"null")
        except ValueError:
            body = None
        model = body.get("model") if isinstance(body, dict) else None
        rule = core.endpoint_fault(self.endpoint, model if isinstance(model, str) else None)
        if rule is not None and rule.kind == "error":
            self.answer_fault(rule)
            return
        if self.refuse_auth_or_limit("create"):
            return
        if not isinstance(body, dict):
            self.envelope(400, 400, "request body must be a JSON object")
            return
        refusal = self.refusal(body)
        if refusal is not None:
            self.envelope(refusal[0], refusal[0], refusal[1])
            return
        if not core.charge():
            self.envelope(402, 402, "Insufficient credits")
            return
        model, prompt = self.model_and_prompt(body)
        task = core.create_task(self.family, model, body, prompt, body.get("callBackUrl"))
        if task.early:
            kinds = tuple(k for _, group in task.callback_plan() for k in group)
            await self.sender.dispatch(task, kinds)
        elif task.callback_url and task.duration <= 0:
            self.tick()  # zero-duration task: call back right after this answer
        if await self.after_work(rule):
            return
        self.envelope(200, 200, "success", {"taskId": task.task_id})


class MarketCreateHandler(CreateHandler):
    endpoint, family = "market.create", "market"

    def refusal(self, body: dict[str, Any]) -> Refusal:
        return (validate_market(body, self.core.config.known_models)
                or refuse_inputs(self.core, body["input"], "input"))

    def model_and_prompt(self, body: dict[str, Any]) -> tuple[str, str]:
        data = body["input"]
        return body["model"], str(data.get("prompt") or data.get("text") or "")


class VeoCreateHandler(CreateHandler):
    endpoint, family = "veo.create", "veo"

    def refusal(self, body: dict[str, Any]) -> Refusal:
        return validate_veo(body) or refuse_inputs(self.core, body.get("imageUrls"), "imageUrls")

    def model_and_prompt(self, body: dict[str, Any]) -> tuple[str, str]:
        return str(body.get("model") or "veo3_fast"), body["prompt"]


class SunoCreateHandler(CreateHandler):
    endpoint, family = "suno.create", "suno"

    def refusal(self, body: dict[str, Any]) -> Refusal:
        return validate_suno(body)

    def model_and_prompt(self, body: dict[str, Any]) -> tuple[str, str]:
        return body["model"], str(body.get("prompt") or "")


class StatusHandler(KieHandler):
    """Base of the three status endpoints."""

    family: ClassVar[str] = "market"

    async def get(self) -> None:
        core = self.core
        core.count_call(self.endpoint)
        task_id = self.get_query_argument("taskId", "") or ""
        known = core.tasks.get(task_id)
        rule = core.endpoint_fault(self.endpoint, known.model if known else None)
        if rule is not None and rule.kind == "error":
            self.answer_fault(rule)
            return
        if self.refuse_auth_or_limit("status"):
            return
        if not task_id:
            self.envelope(400, 400, "taskId is required")
            return
        task = core.lookup(task_id, self.family)
        if task is None:
            self.envelope(404, 404, "task not found")
            return
        with core.lock:
            data = record_data(task, core.clock(), core.media_base())
        if await self.after_work(rule):
            return
        self.envelope(200, 200, "success", data)


class MarketStatusHandler(StatusHandler):
    endpoint, family = "market.status", "market"


class VeoStatusHandler(StatusHandler):
    endpoint, family = "veo.status", "veo"


class SunoStatusHandler(StatusHandler):
    endpoint, family = "suno.status", "suno"


class CreditHandler(KieHandler):
    endpoint = "credit"

    async def get(self) -> None:
        self.core.count_call(self.endpoint)
        rule = self.core.endpoint_fault(self.endpoint, None)
        if rule is not None and rule.kind == "error":
            self.answer_fault(rule)
            return
        if self.refuse_auth_or_limit(None):
            return
        credits = self.core.config.credits
        if await self.after_work(rule):
            return
        self.envelope(200, 200, "success", int(credits) if credits == int(credits) else credits)


class MediaHandler(KieHandler):
    """``GET|HEAD /media/<task_id>/<n>.<ext>``: public result files, like KIE's CDN URLs."""

    endpoint = "media"

    def _payload(self, task_id: str, name: str) -> bytes | None:
        task = self.core.tasks.get(task_id)
        match = _MEDIA_NAME.match(name)
        if task is None or match is None:
            return None
        ext = match.group(3)
        return padded(ext, task.pad_bytes) if task.pad_bytes else base_media(ext)

    def _serve(self, task_id: str, name: str, *, with_body: bool) -> None:
        self.core.count_call(self.endpoint)
        data = self._payload(task_id, name)
        if data is None:
            self.set_status(404)
            self.finish("not found")
            return
        self.set_header("Content-Type", CONTENT_TYPES[name.rsplit(".", 1)[1]])
        self.set_header("Content-Length", str(len(data)))
        self.finish(data if with_body else None)

    def get(self, task_id: str, name: str) -> None:
        self._serve(task_id, name, with_body=True)

    def head(self, task_id: str, name: str) -> None:
        self._serve(task_id, name, with_body=False)

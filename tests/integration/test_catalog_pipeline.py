"""Every model's example, confirmed and paid like a user's order, comes back as a result.

The node's own pipeline (job actors, ``KieClient``, the callback gateway, real PostgreSQL)
against the KIE emulator, all models at once: the hold is the price the card showed (0 for a
free model), and each job ends with its result queued for delivery in its model's kind. The
follow-ups (Veo extend and 4K, Suno extend) then continue their source model's job, with the
ids the node stored from it (its KIE task, its first track).
"""

from __future__ import annotations

from typing import Any

from sandbox.kie_emulator import KieEmulator
from tests.support.kie_harness import CATALOG, KieHarness, Pipelines, kie_fixtures, wait_until
from trt_actors.catalog.follows import SourceValue
from trt_actors.catalog.model import ModelSpec
from trt_actors.domain import jobs, ledger
from trt_actors.domain.states import JobState

emu, pipeline = kie_fixtures(seed=5, duration_s=0.2, rate_limits=False)
FAST = {"create_limit": (1000, 1.0), "status_limit": (1000, 1.0)}
MEDIA = [m for m in CATALOG.models.values() if m.result_kind != "text"]
SOURCES = [m for m in MEDIA if not m.is_follow_up]
FOLLOW_UPS = [m for m in MEDIA if m.is_follow_up]


def source_values(h: KieHarness, model: ModelSpec, source: jobs.Job) -> dict[str, Any]:
    """The follow-up's prefilled fields, from its source's job as the node stored it."""
    assert model.follows is not None
    (task,) = [t for t in h.store.all("tasks_of_job", job_id=source.id)
               if t["state"] == "success"]
    found = {SourceValue.TASK_ID: task["task_id"],
             SourceValue.AUDIO_ID: source.result_ids[0] if source.result_ids else None}
    return {name: found[what] for name, what in model.follows.fields.items()}


def test_every_model_delivers_its_example_and_holds_the_shown_price(
        pipeline: Pipelines, emu: KieEmulator) -> None:
    h = pipeline(client=FAST)
    done: dict[str, jobs.Job] = {}
    user_ids = iter(range(1, len(MEDIA) + 1))
    for batch in (SOURCES, FOLLOW_UPS):
        started: dict[str, jobs.Job] = {}
        for model in batch:
            user_id = next(user_ids)
            values: dict[str, Any] = {**model.example}
            if model.follows is not None:
                values |= source_values(h, model, done[model.follows.models[0]])
            job = h.confirm(model.id, values, user_id=user_id)
            assert job.price == model.price_for(model.example)  # what the confirm screen showed
            held = ledger.balance(h.store, user_id).held
            assert held == job.price and (held == 0) == model.free, model.id
            started[model.id] = job
        for job in started.values():
            h.submit(job)

        def all_done(started: dict[str, jobs.Job] = started) -> dict[str, jobs.Job] | None:
            now = {model_id: h.job(job.id) for model_id, job in started.items()}
            ended = all(j.state in (JobState.SUCCEEDED, JobState.FAILED) for j in now.values())
            return now if ended else None

        done |= wait_until(all_done, 45.0, "every model's job to end")
    failed = {m: (j.state.value, j.failure) for m, j in done.items()
              if j.state is not JobState.SUCCEEDED}
    assert not failed, failed
    for model in MEDIA:
        job = done[model.id]
        (result,) = h.outbox(job.id, "result")
        assert result["payload"]["result_kind"] == model.result_kind.value, model.id
        assert result["payload"]["urls"], model.id
        assert ledger.balance(h.store, job.user_id).held == job.price  # captured at delivery


def test_a_text_result_is_queued_as_text(pipeline: Pipelines, emu: KieEmulator) -> None:
    """Speech-to-text: KIE's answer is a transcript, not a file; the user gets the text."""
    h = pipeline(client=FAST)
    job = h.start_job("elevenlabs/speech-to-text")
    done = h.wait_state(job.id, JobState.SUCCEEDED, JobState.FAILED)
    assert done.state is JobState.SUCCEEDED, done.failure
    assert done.result_urls == () and done.result_text and "emulator" in done.result_text
    (result,) = h.outbox(job.id, "result")
    assert result["payload"]["result_kind"] == "text"
    assert result["payload"]["text"] == done.result_text and result["payload"]["urls"] == []

"""A follow-up's input naming a real source: KIE (and its emulator) continues only a task it
made and finished, so a test of Veo extend, 4K or Suno extend first runs its source model."""

from __future__ import annotations

from typing import Any

from gateways.kie.client import KieClient
from tests.support.waiting import wait_until
from trt_actors.catalog.follows import SourceValue
from trt_actors.catalog.model import Catalog, ModelSpec
from trt_actors.catalog.validation import validate_input
from trt_actors.messages import TaskReport, TaskState


def follow_up_example(client: KieClient, catalog: Catalog, model: ModelSpec,
                      callback_url: str | None = None) -> dict[str, Any]:
    """``model``'s example; for a follow-up, with its source fields taken from a finished
    task of its first source model, created now through ``client`` (its KIE task id, its
    first track's id as the product's own status parser reads them)."""
    if model.follows is None:
        return dict(model.example)
    source = catalog.get(model.follows.models[0])
    family = source.family.value
    task_id = client.create_task(family, source.id, validate_input(source, source.example),
                                 callback_url)

    def ended() -> TaskReport | None:
        report = client.get_task(family, task_id)
        return report if report.state.final else None

    report = wait_until(ended, 30.0, f"{model.id}'s source task")
    assert report.state is TaskState.SUCCESS, report
    found = {SourceValue.TASK_ID: task_id,
             SourceValue.AUDIO_ID: report.result_ids[0] if report.result_ids else None}
    return {**model.example,
            **{name: found[what] for name, what in model.follows.fields.items()}}

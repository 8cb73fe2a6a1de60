"""A follow-up model: one that continues another model's delivered result.

KIE's follow-ups (Veo's extend and 4K, Suno's extend, ...) name their source by an id the user
never sees: the source's KIE task id, or the id of one of its tracks. A catalog entry says so
with ``follows``::

    "follows": {"models": ["veo3", "veo3_fast"], "fields": {"taskId": "task_id"},
                "button": {"en": "🎬 Extend", "ru": "🎬 Продолжить"}}

Such a model is in no menu, search or ``/gen``; it is offered as a button under a delivered
result of one of ``models``, and its ``fields`` are prefilled from that job (see
:mod:`trt_actors.conversation.next_step`): the wizard asks only the rest.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictStr, StringConstraints

from trt_actors.catalog.fields import Localized

__all__ = ["Follows", "SourceValue"]

MAX_FOLLOW_UP_ID = 32
"""A follow-up's id is in its button's data (``follow:<job id>:<model id>``, ≤ 64 bytes)."""


class SourceValue(StrEnum):
    """What of the source job a prefilled field gets."""

    TASK_ID = "task_id"
    """The KIE task id that gave the source's result."""
    AUDIO_ID = "audio_id"
    """The id of the source's first result (Suno: its first track's ``id``)."""


class Follows(BaseModel):
    """The models whose delivered results this model continues, and what it takes from them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    models: Annotated[tuple[StrictStr, ...], Field(min_length=1)]
    """The source models' ids (checked against the catalog at load)."""
    fields: Annotated[dict[Annotated[StrictStr, StringConstraints(min_length=1)], SourceValue],
                      Field(min_length=1)]
    """Field name → what of the source job fills it (a string field of this model)."""
    button: Localized
    """The button's label under the source's result, e.g. "🎬 Extend"."""

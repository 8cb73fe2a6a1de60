"""The conversation: the pure engine that turns a chat event into replies, its wizard and
commands, the texts (en, ru), and the job messages written into the outbox.
"""

from trt_actors.conversation import texts
from trt_actors.conversation.engine import handle
from trt_actors.conversation.job_messages import JobMessages, language_of

__all__ = [
    "JobMessages",
    "handle",
    "language_of",
    "texts",
]

"""Webhooks versus long polling: a bot has one or the other, never both.

An operator moving from a webhook deployment starts the node with the webhook still set;
Telegram then answers every getUpdates with 409. The node is the configured consumer of the
bot, so at its start it deletes a webhook it finds (``drop_pending_updates=False``: a user
who wrote during the switch is still answered) and says so in one log line. A webhook set
*while* it runs is someone else's deliberate act: the intake raises an alert and keeps
asking, slowly, instead of deleting it (see ``intake``). A 409 is told apart by Telegram's
description: "terminated by other getUpdates request" (another poller) or "webhook is
active".
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import telegram

from trt_actors import TELEGRAM_OTHER_POLLER, TELEGRAM_WEBHOOK

log = logging.getLogger("trt.intake")

WEBHOOK = "webhook"
OTHER_POLLER = "other_poller"
CONFLICT_ALERTS = {
    WEBHOOK: (TELEGRAM_WEBHOOK,
              "a webhook was set on the bot while this node polls: Telegram refuses "
              "getUpdates (409) and nobody is answered; delete it (deleteWebhook) or stop "
              "what set it. The node retries and resumes by itself"),
    OTHER_POLLER: (TELEGRAM_OTHER_POLLER,
                   "another process polls getUpdates with this bot token (409 'terminated by "
                   "other getUpdates request'): each misses the updates the other takes; "
                   "stop the other one. The node retries and resumes by itself"),
}
"""Per kind of 409: the alert's key and its one line for the operator (/status)."""


def conflict_kind(description: str) -> str:
    """``WEBHOOK`` or ``OTHER_POLLER`` for the description of a 409 from getUpdates."""
    return WEBHOOK if "webhook" in description.lower() else OTHER_POLLER


def shown_url(url: str) -> str:
    """A webhook URL fit for a log line: no ``user:password@``, every query value ``***``
    (webhook secrets often ride there); the log's redactor also blanks any bot token in the
    path. Scheme, host and path stay: they tell the operator which deployment it was."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    query = urlencode([(key, "***") for key, _ in parse_qsl(parts.query, keep_blank_values=True)],
                      safe="*")
    return urlunsplit((parts.scheme, host, parts.path, query, ""))


async def delete_left_webhook(bot: telegram.Bot) -> str | None:
    """At start: delete a webhook left set (keeping its pending updates); its URL, or None
    when there was none. Raises what PTB raises when Telegram cannot be asked."""
    info = await bot.get_webhook_info()
    if not info.url:
        return None
    await bot.delete_webhook(drop_pending_updates=False)
    log.warning("a webhook was set on this bot (%s, %d pending updates): deleted it to poll "
                "getUpdates instead, keeping the pending updates; the deployment that used "
                "it no longer receives updates", shown_url(info.url), info.pending_update_count)
    return info.url

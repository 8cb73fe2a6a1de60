"""Bot API webhook methods: setWebhook, deleteWebhook, getWebhookInfo, as Telegram has them.

A bot has either a webhook or getUpdates, never both: while a webhook is set, getUpdates
answers 409 ``WEBHOOK_ACTIVE`` (Telegram's exact words) and a long poll waiting when it is
set ends with that 409. This emulator never POSTs updates to the webhook URL (as if it never
answered): they stay pending, counted by getWebhookInfo's ``pending_update_count``, until
deleteWebhook (``drop_pending_updates`` drops them) lets getUpdates fetch them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sandbox.telegram_model import JSON, BotState, bad_request
from sandbox.telegram_params import Params
from sandbox.telegram_registry import bot_method

if TYPE_CHECKING:
    from sandbox.telegram_core import EmulatorCore

WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_PORTS = {None, 80, 88, 443, 8443}


@bot_method("setWebhook")
async def set_webhook(core: EmulatorCore, bot: BotState, p: Params) -> bool:
    url = p.text("url") or ""
    if p.flag("drop_pending_updates"):
        bot.pending.clear()
    if not url:  # an empty url removes the webhook, as deleteWebhook does
        bot.webhook = None
        return True
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    if parts.port not in _PORTS:
        raise bad_request("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
    secret = p.text("secret_token")
    if secret is not None and not _SECRET_TOKEN.fullmatch(secret):
        raise bad_request("secret token contains unallowed characters")
    max_connections = p.integer("max_connections", 40) or 40
    allowed = p.obj("allowed_updates")
    if allowed is not None:
        bot.allowed_updates = [str(a) for a in allowed] or None
    bot.webhook = {"url": url, "secret_token": secret,
                   "max_connections": min(max(max_connections, 1), 100)}
    bot.wake("webhook")  # a waiting getUpdates ends with the webhook conflict
    return True


@bot_method("deleteWebhook")
async def delete_webhook(core: EmulatorCore, bot: BotState, p: Params) -> bool:
    if p.flag("drop_pending_updates"):
        bot.pending.clear()
    bot.webhook = None
    return True


@bot_method("getWebhookInfo")
async def get_webhook_info(core: EmulatorCore, bot: BotState, p: Params) -> JSON:
    info: JSON = {"url": "", "has_custom_certificate": False,
                  "pending_update_count": len(bot.pending)}
    if bot.webhook is not None:
        info["url"] = bot.webhook["url"]
        info["max_connections"] = bot.webhook["max_connections"]
        if bot.allowed_updates:
            info["allowed_updates"] = list(bot.allowed_updates)
    return info

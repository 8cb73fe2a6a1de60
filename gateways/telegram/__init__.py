"""Telegram at the process edge: long-polling intake and the delivery actor (the only
writer to Telegram), on python-telegram-bot's ``Bot``.
"""

from gateways.telegram.delivery import Delivery
from gateways.telegram.intake import Intake, make_bot

__all__ = [
    "Delivery",
    "Intake",
    "make_bot",
]

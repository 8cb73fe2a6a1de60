"""KIE at the process edge: the HTTP client, the callback receiver (Tornado), the
callback/status parser, the status poller.
"""

from gateways.kie.callback_app import Callbacks
from gateways.kie.callbacks import ParsedCallback, parse_callback
from gateways.kie.client import KieClient
from gateways.kie.poller import Poller

__all__ = [
    "Callbacks",
    "KieClient",
    "ParsedCallback",
    "Poller",
    "parse_callback",
]

"""KIE at the process edge: the HTTP client, the callback receiver (Tornado), the
callback/status parser, the status poller.
"""

from gateways.kie.callback_app import Callbacks
from gateways.kie.callbacks import ParsedCallback, parse_callback
from gateways.kie.client import KieClient
from gateways.kie.poller import Poller
from gateways.kie.uploads import KieUploader, Uploaded

__all__ = [
    "Callbacks",
    "KieClient",
    "KieUploader",
    "ParsedCallback",
    "Poller",
    "Uploaded",
    "parse_callback",
]

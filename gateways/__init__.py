"""The edge: everything that crosses the process boundary (KIE, Telegram, the operator's
HTTP), implementing the core's ports; :class:`Node` wires core and edge into one process.

Imports the core only through ``trt_actors``'s public face (checked by import-linter).
"""

from gateways.node import Node

__all__ = [
    "Node",
]

"""The node process of ``trt-node bench``: ``run_node.py run`` with settings the environment
cannot express.

The settings refuse KIE limits above KIE's real ones (20 createTask per 10 s), which is
right for an operator and wrong for a benchmark that wants to see how fast *our* code is.
The bench sets ``TRT_BENCH_OVERRIDES`` (a JSON object of setting names and values) and
starts this module instead of ``run_node.py run``, which applies them after validation
(``run_node.run(overrides=...)``); everything else — migrations, the token
check, the Node, signals — is the real ``run`` path, unchanged.

    python -m tools.bench.node      # with TRT_BENCH_OVERRIDES='{"kie_create_per_10s": 1e6}'
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

OVERRIDES_ENV = "TRT_BENCH_OVERRIDES"


def main() -> int:
    root = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(root))
    import run_node

    overrides: dict[str, Any] = json.loads(os.environ.get(OVERRIDES_ENV) or "{}")
    # With TRT_WORKERS > 1 each worker is this module too, so it applies the overrides as well.
    return int(run_node.run(overrides=overrides,
                            worker_argv=[sys.executable, "-m", "tools.bench.node"]))


if __name__ == "__main__":
    sys.exit(main())

"""``trt-node check --e2e``: the free models' end-to-end report as one row of the gate.

It runs ``trt-node e2e`` (every free model, ``--e2e-runs`` times each) the way that command
does with the same environment: against the real KIE and the admin's chat when a KIE key is
set (results are delivered to the lowest ``TRT_ADMIN_IDS``, by the running node or one e2e
starts), against the emulators otherwise. The row fails when any model is FAILED; an
UNSTABLE one is a warning (``--strict`` fails on it). The report files go to ``--e2e-out``.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

from tools import e2e
from tools.check_rows import CheckResult
from tools.e2e_report import FAILED, STABLE

NAME = "e2e (free models)"


def check_e2e(runs: int, out: Path) -> CheckResult:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        code = e2e.main(["--runs", str(runs), "--out", str(out)])
    try:
        doc = json.loads((out / "e2e-report.json").read_text("utf-8"))
        verdicts = {m["model"]: m["verdict"] for m in doc["models"]}
    except (OSError, ValueError, KeyError, TypeError):
        line = printed.getvalue().strip().splitlines()[-1:] or ["no report"]
        return CheckResult(NAME, False, f"e2e did not report: {line[0]}")
    failed = sorted(m for m, v in verdicts.items() if v == FAILED)
    unstable = sorted(m for m, v in verdicts.items() if v not in (FAILED, STABLE))
    where = f"report in {out}"
    if failed or code != 0:
        return CheckResult(NAME, False, f"FAILED: {', '.join(failed) or '?'}; {where}")
    if unstable:
        return CheckResult(NAME, False, f"UNSTABLE: {', '.join(unstable)}; {where}",
                           "warning")
    return CheckResult(NAME, True, f"{len(verdicts)} free models STABLE × {runs}; {where}")

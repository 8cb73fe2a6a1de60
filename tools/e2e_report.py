"""The ``trt-node e2e`` report: run outcomes, per-model verdicts, Markdown and JSON files.

A model is STABLE when every run delivered, UNSTABLE when some did, FAILED when none did;
timing is the job's own confirm-to-delivered time (p50 and max over delivered runs).
:mod:`tools.e2e` runs the generations and hands the outcomes here.
"""

from __future__ import annotations

import collections
import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["FAILED", "STABLE", "UNSTABLE", "ModelResult", "RunOutcome", "render_markdown",
           "summarize", "write_report"]

STABLE, UNSTABLE, FAILED = "STABLE", "UNSTABLE", "FAILED"


@dataclass
class RunOutcome:
    """One ordered generation."""

    model: str
    run: int
    job_id: int | None = None
    delivered: bool = False
    seconds: float | None = None
    """Confirm (job created) to delivered (job finished), from the job row."""
    state: str | None = None
    failure: str | None = None
    """Why it did not deliver: the job's failure reason and detail, or a timeout."""


@dataclass
class ModelResult:
    """Every run of one model, and the verdict."""

    model: str
    runs: list[RunOutcome] = field(default_factory=list)

    @property
    def delivered(self) -> int:
        return sum(1 for r in self.runs if r.delivered)

    @property
    def verdict(self) -> str:
        if self.delivered == len(self.runs):
            return STABLE
        return UNSTABLE if self.delivered else FAILED

    def timing(self) -> tuple[float | None, float | None]:
        """(p50, max) seconds over delivered runs."""
        times = [r.seconds for r in self.runs if r.delivered and r.seconds is not None]
        if not times:
            return None, None
        return round(statistics.median(times), 2), round(max(times), 2)

    def failures(self) -> dict[str, int]:
        return dict(collections.Counter(r.failure or "unknown" for r in self.runs
                                        if not r.delivered))

    def as_json(self) -> dict[str, Any]:
        p50, worst = self.timing()
        return {"model": self.model, "verdict": self.verdict, "delivered": self.delivered,
                "runs": len(self.runs), "p50_s": p50, "max_s": worst,
                "failures": self.failures(), "details": [asdict(r) for r in self.runs]}


def summarize(outcomes: Sequence[RunOutcome]) -> list[ModelResult]:
    """Group runs by model, in the order the models were run."""
    results: dict[str, ModelResult] = {}
    for outcome in outcomes:
        results.setdefault(outcome.model, ModelResult(outcome.model)).runs.append(outcome)
    return list(results.values())


def render_markdown(results: Sequence[ModelResult], meta: Mapping[str, Any]) -> str:
    lines = ["# End-to-end report", "",
             f"- mode: {meta['mode']}", f"- runs per model: {meta['runs']}",
             f"- started: {meta['started_at']}, took {meta['took_s']} s",
             f"- timeout per run: {meta['timeout_s']} s", "",
             "| model | verdict | delivered | p50 s | max s | failures |",
             "|---|---|---|---|---|---|"]
    for r in results:
        p50, worst = r.timing()
        failures = "; ".join(f"{n}× {reason}" for reason, n in r.failures().items())
        lines.append(f"| {r.model} | **{r.verdict}** | {r.delivered}/{len(r.runs)} | "
                     f"{p50 if p50 is not None else '–'} | "
                     f"{worst if worst is not None else '–'} | "
                     f"{failures.replace('|', '/') or '–'} |")
    lines += ["", "## Runs", "", "| model | run | job | outcome | seconds |",
              "|---|---|---|---|---|"]
    for r in results:
        for run in r.runs:
            outcome = "delivered" if run.delivered else f"{run.failure or run.state}"
            lines.append(f"| {run.model} | {run.run} | {run.job_id or '–'} | "
                         f"{outcome.replace('|', '/')} | "
                         f"{run.seconds if run.seconds is not None else '–'} |")
    return "\n".join(lines) + "\n"


def write_report(results: Sequence[ModelResult], meta: Mapping[str, Any],
                 out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / "e2e-report.md", out / "e2e-report.json"
    md.write_text(render_markdown(results, meta), encoding="utf-8")
    doc = {**meta, "ok": all(r.verdict != FAILED for r in results),
           "models": [r.as_json() for r in results]}
    js.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return md, js

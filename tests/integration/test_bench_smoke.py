"""``trt-node bench --quick --only P1`` runs end to end and reports a real throughput;
``--only P8`` purges every seeded row older than the retention."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_p1_prints_a_positive_jobs_per_second(tmp_path: Path) -> None:
    report = tmp_path / "BENCHMARKS.md"
    done = subprocess.run(
        [sys.executable, str(ROOT / "run_node.py"), "bench", "--quick", "--only", "P1",
         "--output", str(report)],
        cwd=ROOT, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    row = re.search(r"^\| P1 \| pipeline jobs/s[^|]*\| ([0-9.]+) \|", done.stdout, re.MULTILINE)
    assert row is not None, done.stdout[-2000:]
    assert float(row[1]) > 0
    written = report.read_text()
    assert "<!-- bench:begin -->" in written and "pipeline jobs/s" in written
    assert "cores" in written and "run_node.py bench --quick --only P1" in written


def test_quick_p8_purges_every_row_older_than_the_retention(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "run_node.py"), "bench", "--quick", "--only", "P8"],
        cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    left = re.search(r"^\| P8 \| rows older than the retention after purging ([0-9,]+) \| "
                     r"([0-9]+) \|", done.stdout, re.MULTILINE)
    assert left is not None, done.stdout[-2000:]
    assert int(left[1].replace(",", "")) > 0 and int(left[2]) == 0
    assert re.search(r"^\| P8 \| p99 during the purge / without \| [0-9.]+ \|", done.stdout,
                     re.MULTILINE), done.stdout[-2000:]

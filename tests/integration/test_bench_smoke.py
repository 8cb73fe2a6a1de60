"""``trt-node bench --quick --only P1,P2 --workers 1,2`` runs end to end and reports a real
throughput and latency for one and for two worker processes, each beside the plain bot's
baseline; ``--only P8`` purges every seeded row older than the retention."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NUMBER = r"([0-9]+(?:\.[0-9]+)?)"
P1_ROW = (r"^\| P1 \| workers = {w}: jobs/s \(× baseline\); CPU ms per job \(× baseline\); "
          r"commits per job \(writes / all\); Bot API calls per job \| "
          rf"{NUMBER} \({NUMBER}×\); {NUMBER} \({NUMBER}×\); {NUMBER} / {NUMBER}; {NUMBER} \| "
          r"≥ 1\.0×; ≤ 2× \| (yes|\*\*no\*\*: missed by [^|]+) \|$")
P2_ROW = (r"^\| P2 \| workers = {w}: callback → send p50 / p99 at 100/s \(ms\) \| "
          rf"{NUMBER} / {NUMBER} \| p99 ≤ 100 \| (yes|\*\*no\*\*: missed by [0-9]+ ms) \|$")


def test_quick_p1_and_p2_report_one_and_two_workers_against_the_baseline(
        tmp_path: Path) -> None:
    report = tmp_path / "BENCHMARKS.md"
    done = subprocess.run(
        [sys.executable, str(ROOT / "run_node.py"), "bench", "--quick", "--only", "P1,P2",
         "--workers", "1,2", "--output", str(report)],
        cwd=ROOT, capture_output=True, text=True, timeout=240)
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-2000:]
    row = re.search(r"^\| P1 \| pipeline jobs/s[^|]*\| ([0-9.]+) \|", out, re.MULTILINE)
    assert row is not None, out[-3000:]
    assert float(row[1]) > 0
    for workers in (1, 2):
        p1 = re.search(P1_ROW.replace("{w}", str(workers)), out, re.MULTILINE)
        assert p1 is not None, f"no P1 row for workers = {workers}:\n{out[-3000:]}"
        assert all(float(v) > 0 for v in p1.groups()[:7]), p1[0]
        p2 = re.search(P2_ROW.replace("{w}", str(workers)), out, re.MULTILINE)
        assert p2 is not None, f"no P2 row for workers = {workers}:\n{out[-3000:]}"
        assert 0 < float(p2[1]) <= float(p2[2]), p2[0]
    # The CPU of two workers is counted: each worker's own share shows, and both are busy.
    split = re.search(r"workers = 2: [^\n]*the node \(a parent and 2 worker processes\) used "
                      rf"[0-9]+% of one core; CPU in cores: node {NUMBER} \(workers {NUMBER} \+ "
                      rf"{NUMBER}, parent", out)
    assert split is not None, out[-3000:]
    node, first, second = (float(v) for v in split.groups())
    assert first > 0 and second > 0 and node >= first + second - 0.02
    written = report.read_text()
    assert "<!-- bench:begin -->" in written and "workers = 2: jobs/s" in written
    assert "cores" in written and "run_node.py bench --quick --only P1,P2" in written


def test_bench_refuses_a_worker_count_below_one() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "run_node.py"), "bench", "--quick", "--workers", "0,2"],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "--workers: '0,2': give worker counts of 1 or more" in done.stderr.splitlines()[-1]


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

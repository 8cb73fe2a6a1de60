"""The rows of ``trt-node check``: one result per precondition, and how they are made."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

__all__ = ["CheckResult"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One row of the check table."""

    name: str
    ok: bool
    detail: str
    severity: str = "error"
    """For a row that is not ok: ``error`` (always fails), ``warning`` (fails only with
    --strict) or ``skipped`` (not run because a row it depends on failed)."""

    @property
    def status(self) -> str:
        if self.ok:
            return "ok"
        return {"warning": "warning", "skipped": "skipped"}.get(self.severity, "failed")


def _ok(name: str, detail: str) -> CheckResult:
    return CheckResult(name, True, detail)


def _fail(name: str, detail: str) -> CheckResult:
    return CheckResult(name, False, detail)


def _warn(name: str, detail: str) -> CheckResult:
    return CheckResult(name, False, detail, "warning")


def _skip(name: str, why: str) -> CheckResult:
    return CheckResult(name, False, f"not checked: {why}", "skipped")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _shown(url: str) -> str:
    """The URL without user:password@."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))

"""The named queries in ``sql/queries.sql`` and the code that asks for them agree.

Every name the code asks for (``tx.one("name", ...)``, ``.all``, ``.run``, ``queries()["name"]``)
is defined, and every defined query is asked for by the product or the tools: a typo fails
here instead of at run time, and a query nothing uses is deleted instead of maintained.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import sql
from trt_actors.infra.store import ILLEGAL_TRANSITION

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("trt_actors", "gateways", "supervision", "run_node.py")
TOOLS = ("tools",)
TESTS = ("tests",)
QUERY_METHODS = {"one", "all", "run"}
FOR_TESTS = {"ledger_entries": "the ledger and delivery tests read a user's entries with it"}
"""Queries kept for the tests alone, each with its reason (the product never lists entries)."""


def _sources(roots: tuple[str, ...]) -> Iterator[Path]:
    for root in roots:
        path = ROOT / root
        yield from [path] if path.is_file() else sorted(path.rglob("*.py"))


def _literal(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _asked(roots: tuple[str, ...]) -> dict[str, list[str]]:
    """Query name -> where it is asked for (``path:line``), from the syntax trees."""
    found: dict[str, list[str]] = {}
    for path in _sources(roots):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            name = _query_name(node)
            if name is not None and name.isidentifier() and name.islower():
                where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
                found.setdefault(name, []).append(where)
    return found


def _query_name(node: ast.AST) -> str | None:
    """The literal name in ``x.one("name", ...)`` (``all``, ``run``) or ``queries()["name"]``."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return _literal(node.args[0]) if node.func.attr in QUERY_METHODS and node.args else None
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Call):
        func = node.value.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        return _literal(node.slice) if called == "queries" else None
    return None


def test_the_scan_sees_the_code() -> None:
    # Guards the guard: a scan that found nothing would pass the tests below vacuously.
    asked = _asked(PRODUCT)
    assert {"job_insert", "job_move", "outbox_insert", "ledger_apply"} <= set(asked)
    assert any(where.startswith("trt_actors/domain/jobs.py") for where in asked["job_move"])


def test_every_query_the_code_asks_for_is_defined() -> None:
    defined = set(sql.queries())
    asked = _asked(PRODUCT + TOOLS + TESTS)
    # Ordinary .run("...") / .all("...") calls of other objects (subprocess, asyncio...) never
    # take a bare lower_case identifier, so any such name left over is a missing query.
    missing = {name: where for name, where in asked.items() if name not in defined}
    assert not missing, f"asked for but not in sql/queries.sql: {missing}"


def test_every_defined_query_is_used_by_the_product_or_the_tools() -> None:
    used = set(_asked(PRODUCT + TOOLS))
    unused = sorted(set(sql.queries()) - used - set(FOR_TESTS))
    assert not unused, f"in sql/queries.sql but used by no product or tool code: {unused}"


def test_the_queries_kept_for_the_tests_are_used_by_them_only() -> None:
    product, tests = set(_asked(PRODUCT + TOOLS)), set(_asked(TESTS))
    stale = sorted(name for name in FOR_TESTS if name in product or name not in tests)
    assert not stale, f"FOR_TESTS lists queries the product uses or no test uses: {stale}"


def test_the_illegal_transition_sqlstate_is_raised_by_a_migration() -> None:
    # Custom SQLSTATEs: five digits or upper-case letters, in a class PostgreSQL leaves free.
    assert len(ILLEGAL_TRANSITION) == 5 and ILLEGAL_TRANSITION.isalnum()
    assert ILLEGAL_TRANSITION.isupper() and not ILLEGAL_TRANSITION.endswith("000")
    assert any(f"ERRCODE = '{ILLEGAL_TRANSITION}'" in m.sql for m in sql.migrations())

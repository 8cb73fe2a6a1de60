"""``trt-node models [--json]``: the catalog with the prices users are charged, the operator's
database settings applied when the database answers, the catalog's prices (said so) when
not; no bot token or KIE key needed."""

from __future__ import annotations

import json

import psycopg

from tests.integration.test_cli import _env, _trt_node
from trt_actors.catalog.model import load_catalog

CATALOG = load_catalog()


def test_models_json_lists_every_model_with_the_database_settings(database: str) -> None:
    paid = next(m for m in CATALOG.models.values() if not m.free)
    off = next(m for m in CATALOG.models.values() if m.id != paid.id)
    with psycopg.connect(database) as conn:
        conn.execute("INSERT INTO model_settings (model_id, price, changed_by) "
                     "VALUES (%s, 777, 9)", (paid.id,))
        conn.execute("INSERT INTO model_settings (model_id, enabled, changed_by) "
                     "VALUES (%s, false, 9)", (off.id,))
    done = _trt_node("models", "--json", env=_env(DATABASE_URL=database))
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["from_database"] is True and doc["credits_per_kie_credit"] == 0.5
    models = {m["id"]: m for m in doc["models"]}
    assert list(models) == list(CATALOG.models) and doc["count"] == len(CATALOG)
    assert models[paid.id]["price"] == 777 and models[paid.id]["enabled"] is True
    assert models[off.id]["enabled"] is False and doc["enabled"] == len(CATALOG) - 1
    free = next(m for m in CATALOG.models.values() if m.free)
    assert (models[free.id]["free"], models[free.id]["price"]) == (True, 0)
    first = models[free.id]["fields"][0]
    assert first == {"name": free.fields[0].name, "type": free.fields[0].type.value,
                     "required": free.fields[0].required}
    assert all((models[i]["family"], models[i]["kind"]) == (m.family.value, m.kind)
               for i, m in CATALOG.models.items())


def test_models_without_a_database_lists_the_catalog_prices_and_says_so() -> None:
    env = _env(DATABASE_URL="postgresql://nobody@127.0.0.1:1/none",
               TRT_CREDITS_PER_KIE_CREDIT="1")
    done = _trt_node("models", "--json", env=env)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["from_database"] is False and doc["database_error"]
    priced = CATALOG.with_pricing(1.0)
    assert {m["id"]: m["price"] for m in doc["models"]} == {
        i: m.price for i, m in priced.models.items()}
    assert all(m["enabled"] for m in doc["models"])


def test_models_prints_an_aligned_table() -> None:
    done = _trt_node("models", env=_env(DATABASE_URL="postgresql://nobody@127.0.0.1:1/none"))
    assert done.returncode == 0, done.stderr
    first, head, *rows = done.stdout.splitlines()
    assert f"{len(CATALOG)} models" in first and "catalog prices only" in first
    assert head.split() == ["id", "family", "kind", "price", "free", "enabled", "fields"]
    assert len(rows) == len(CATALOG)
    column = head.index("price")
    z = next(r for r in rows if r.startswith("z-image "))
    assert z[column:].startswith("free ")  # every row's price under the header's


def test_models_refuses_a_bad_markup_in_one_line() -> None:
    done = _trt_node("models", env=_env(TRT_CREDITS_PER_KIE_CREDIT="cheap"))
    assert done.returncode == 2
    assert done.stderr.startswith("trt-node: TRT_CREDITS_PER_KIE_CREDIT: ")
    assert done.stderr.count("\n") == 1


def test_models_explains_its_options() -> None:
    done = _trt_node("models", "--help", env=_env())
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: trt-node models ") and "--json" in done.stdout

"""Finding a model among many: categories, kinds, pages, popular, new, and ``/models`` search.

The main menu shows the categories (``texts_models.CATEGORIES``: images, video, music and
sound, speech), "🔥 Popular" (by the confirmed jobs of the last days,
``domain.model_settings.POPULAR_DAYS``; then the catalog's order), "🆕 New" (models
``added`` within ``NEW_DAYS`` days, badged 🆕 wherever they are listed) and the free
models. A category with several kinds lists its kinds, then each kind its models,
``PAGE_SIZE`` a page with ◀️ ▶️. Only enabled models are listed or found, and no follow-up
(Veo extend, Suno extend ...: offered only under a result it continues). A list is named by
an action (``["kind", kind, page]``, ``["cat", id, page]``, ``["popular", page]``,
``["new", page]``, ``["free", page]``, ``["found", query, page]``), kept in the chat state
like every button's meaning, so callback data stays ``<menu>:<i>``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from trt_actors.catalog.model import Catalog, ModelSpec
from trt_actors.conversation import texts
from trt_actors.conversation.session import Action, Row, Session
from trt_actors.conversation.texts_models import CATEGORIES

PAGE_SIZE = 8
"""Models per page (Telegram shows long keyboards, but eight is what fits a phone screen)."""
NEW_DAYS = 30
"""A model ``added`` within this many days gets the 🆕 badge and is on the New list."""
POPULAR_SHOWN = 2 * PAGE_SIZE
"""How many models the Popular list ranks."""
MAX_QUERY = 100
"""Characters of a search kept (in the state, for its pages)."""
LISTS = frozenset({"kind", "cat", "popular", "new", "free", "found"})
"""The verbs of list actions (``show`` handles them)."""
_RESULT_CATEGORY = {"image": "images", "video": "video", "audio": "audio"}


def today() -> date:
    return datetime.now(UTC).date()


def is_new(model: ModelSpec, on: date) -> bool:
    """True when the model was added within ``NEW_DAYS`` days before ``on``."""
    return on - timedelta(days=NEW_DAYS) < model.added <= on


def category_of(model: ModelSpec) -> str:
    for category, (_, kinds) in CATEGORIES.items():
        if model.kind in kinds:
            return category
    return _RESULT_CATEGORY.get(model.result_kind.value, "other")


def category_label(lang: str, category: str) -> str:
    en, ru = CATEGORIES[category][0]
    return ru if lang == "ru" else en


def categories(catalog: Catalog) -> dict[str, list[ModelSpec]]:
    """Category → its enabled models, in ``CATEGORIES`` order; empty categories left out."""
    found: dict[str, list[ModelSpec]] = {c: [] for c in CATEGORIES}
    for model in catalog.offered_models():
        found[category_of(model)].append(model)
    return {c: models for c, models in found.items() if models}


def kinds_of(category: str, models: list[ModelSpec]) -> list[str]:
    """The kinds among ``models``: the category's own order first, then by appearance."""
    order = CATEGORIES.get(category, ((), ()))[1]
    present = list(dict.fromkeys(m.kind for m in models))
    return sorted(present, key=lambda k: order.index(k) if k in order else len(order))


_WORD = re.compile(r"\w+")


def _fold(text: str) -> str:
    return text.casefold().replace("ё", "е")


def words(text: str) -> list[str]:
    """The words of ``text`` as search compares them: folded case, ё as е, split at anything
    not a letter or digit ("kling-2.6/text-to-video" is kling, 2, 6, text, to, video)."""
    return _WORD.findall(_fold(text))


def haystack(model: ModelSpec) -> set[str]:
    """The words a search looks in: id, both titles and descriptions, kind and its labels,
    its category's labels."""
    category = category_of(model)
    return set(words(" ".join((
        model.id, model.title.en, model.title.ru, model.description.en, model.description.ru,
        model.kind, texts.kind_label("en", model.kind), texts.kind_label("ru", model.kind),
        category_label("en", category), category_label("ru", category)))))


def search(catalog: Catalog, query: str) -> list[ModelSpec]:
    """Enabled models where every word of ``query`` starts a word of theirs (so "музык"
    finds "музыка", "lip" finds lip-sync but not "clip"), in catalog order; a model whose id
    is the query comes first."""
    wanted = words(query)
    if not wanted:
        return []
    found = [m for m in catalog.offered_models()
             if all(any(w.startswith(q) for w in haystack(m)) for q in wanted)]
    exact = _fold(query.strip())
    return sorted(found, key=lambda m: _fold(m.id) != exact)


def price_label(s: Session, model: ModelSpec) -> str:
    """"free", the price, "from" the lowest when inputs change it (the confirm screen shows
    the exact one), or "up to" the highest when the order is held at the worst case (KIE
    bills by the result's size, unknown until it has the input: Topaz)."""
    if model.free:
        return s.t("price.free")
    low, high = model.price_range()
    if model.charges_worst_case and low < high:
        return s.t("price.up_to", price=s.credits(high))
    return s.credits(low) if low == high else s.t("price.from", price=s.credits(low))


def title(s: Session, model: ModelSpec) -> str:
    """The model's title, with the 🆕 badge when it is new."""
    name = model.title.get(s.lang)
    return f"{s.t('badge.new')} {name}" if is_new(model, today()) else name


# --- screens ---------------------------------------------------------------------------------


def catalog_rows(s: Session) -> list[Row]:
    """The main menu's catalog part: categories two a row, Popular and New, Free."""
    cats = [(category_label(s.lang, c), ["cat", c, 0]) for c in categories(s.catalog)]
    rows: list[Row] = [cats[i: i + 2] for i in range(0, len(cats), 2)]
    extra: Row = [(s.t("btn.popular"), ["popular", 0])]
    if newest(s.catalog):
        extra.append((s.t("btn.new"), ["new", 0]))
    rows.append(extra)
    if any(m.free for m in s.catalog.offered_models()):
        rows.append([(s.t("btn.free"), ["free", 0])])
    return rows


def categories_screen(s: Session, text: str, *, replace: bool = False) -> None:
    """``text`` above the catalog's buttons and Back (search misses, ``/models`` alone)."""
    s.screen(text, [*catalog_rows(s), [(s.t("btn.back"), ["main"])]], replace=replace)


def newest(catalog: Catalog) -> list[ModelSpec]:
    """Enabled models added within ``NEW_DAYS`` days, the newest first."""
    on = today()
    return sorted((m for m in catalog.offered_models() if is_new(m, on)), key=lambda m: m.added,
                  reverse=True)


def show(s: Session, action: Action, *, replace: bool = True) -> None:
    """The screen a list action names (a button press or a page turn)."""
    verb, rest = action[0], action[1:]
    page = rest[-1] if rest and isinstance(rest[-1], int) else 0
    match verb:
        case "cat":
            _category(s, str(rest[0]), page, replace=replace)
        case "kind":
            kind = str(rest[0])
            models = [m for m in s.catalog.offered_models() if m.kind == kind]
            text = s.t("kind.title", kind=texts.kind_label(s.lang, kind))
            back = ["cat", category_of(models[0]), 0] if models else ["main"]
            _models(s, text, models, ["kind", kind], page, back, replace=replace)
        case "popular":
            _models(s, s.t("popular.title"), popular(s), ["popular"], page, ["main"],
                    replace=replace)
        case "new":
            _models(s, s.t("new.title"), newest(s.catalog), ["new"], page, ["main"],
                    replace=replace)
        case "free":
            models = [m for m in s.catalog.offered_models() if m.free]
            _models(s, s.t("free.title"), models, ["free"], page, ["main"], replace=replace)
        case "found":
            query = str(rest[0])
            _models(s, s.t("search.title", query=query), search(s.catalog, query),
                    ["found", query], page, ["main"], replace=replace)


def _category(s: Session, category: str, page: int, *, replace: bool) -> None:
    models = categories(s.catalog).get(category, [])
    kinds = kinds_of(category, models)
    label = category_label(s.lang, category) if category in CATEGORIES else category
    if len(kinds) == 1:  # nothing to choose between: its models straight away
        _models(s, s.t("kind.title", kind=label), models, ["cat", category], page, ["main"],
                replace=replace)
        return
    rows: list[Row] = [[(s.t("btn.kind", kind=texts.kind_label(s.lang, k),
                             count=sum(m.kind == k for m in models)), ["kind", k, 0])]
                       for k in kinds]
    rows.append([(s.t("btn.back"), ["main"])])
    s.screen(s.t("category.title", category=label), rows, replace=replace)


def _models(s: Session, text: str, models: list[ModelSpec], name: list[Any], page: int,
            back: Action, *, replace: bool) -> None:
    """One page of ``models`` (the list action ``name`` + page), ◀️ ▶️ and Back."""
    pages = max(1, -(-len(models) // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    here = [*name, page]
    shown = models[page * PAGE_SIZE: (page + 1) * PAGE_SIZE]
    if not models:
        text = f"{text}\n{s.t('kind.empty')}"
    elif pages > 1:
        text = f"{text} ({s.t('page', page=page + 1, pages=pages)})"
    rows: list[Row] = [[(s.t("btn.model", title=title(s, m), price=price_label(s, m)),
                         ["model", m.id, here])] for m in shown]
    turn: Row = []
    if page > 0:
        turn.append((s.t("btn.prev"), [*name, page - 1]))
    if page < pages - 1:
        turn.append((s.t("btn.next"), [*name, page + 1]))
    if turn:
        rows.append(turn)
    rows.append([(s.t("btn.back"), back)])
    s.screen(text, rows, replace=replace)


def popular(s: Session) -> list[ModelSpec]:
    """The most ordered enabled models of the last days, then the catalog's order."""
    by_id = {m.id: m for m in s.catalog.offered_models()}
    ranked = [by_id[i] for i in s.ctx.popular_models(POPULAR_SHOWN) if i in by_id]
    ranked += [m for m in by_id.values() if m not in ranked]
    return ranked[:POPULAR_SHOWN]


def find(s: Session, query: str) -> None:
    """``/models <words>``: the matching models, paged; none (or no words): say so and show
    the categories."""
    query = " ".join(query.split())[:MAX_QUERY]
    if not query:
        categories_screen(s, s.t("search.usage"))
        return
    if not search(s.catalog, query):
        categories_screen(s, s.t("search.none", query=query))
        return
    show(s, ["found", query, 0], replace=False)

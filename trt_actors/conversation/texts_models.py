"""The catalog screens' texts (categories, pages, popular, new, search) and the operator's
model commands (/model, /price), English and Russian: plain data, merged into ``MENU_TEXTS``.
"""

from __future__ import annotations

CATEGORIES: dict[str, tuple[tuple[str, str], tuple[str, ...]]] = {
    # category id -> (labels, the kinds it holds, in menu order). A kind no category names
    # goes by what its models make (image, video, audio), else to "other".
    "images": (("🖼 Images", "🖼 Изображения"),
               ("text-to-image", "image-edit", "image-to-image", "upscale",
                "background-removal", "reframe")),
    "video": (("🎬 Video", "🎬 Видео"),
              ("text-to-video", "image-to-video", "video-to-video", "lip-sync", "video-upscale")),
    "audio": (("🎵 Music & sound", "🎵 Музыка и звук"),
              ("music", "music-extend", "sound-effects", "audio-isolation")),
    "speech": (("🗣 Speech", "🗣 Речь"), ("text-to-speech", "speech-to-text")),
    "other": (("✨ Other", "✨ Другое"), ()),
}

MODEL_TEXTS: dict[str, tuple[str, str]] = {
    # --- finding a model ---
    "btn.popular": ("🔥 Popular", "🔥 Популярное"),
    "btn.new": ("🆕 New", "🆕 Новинки"),
    "btn.prev": ("◀️", "◀️"),
    "btn.next": ("▶️", "▶️"),
    "btn.kind": ("{kind} · {count}", "{kind} · {count}"),
    "badge.new": ("🆕", "🆕"),
    "start.search": (
        "🔎 Or search: /models <words>, e.g. /models video sound",
        "🔎 Или поиск: /models <слова>, например /models видео звук",
    ),
    "category.title": (
        "{category}: what should the model do?",
        "{category}: что должна сделать модель?",
    ),
    "page": ("page {page} of {pages}", "страница {page} из {pages}"),
    "popular.title": (
        "🔥 Popular this week: choose a model.",
        "🔥 Популярное за неделю: выберите модель.",
    ),
    "new.title": ("🆕 New models: choose a model.", "🆕 Новые модели: выберите модель."),
    "search.title": (
        "🔎 Models for “{query}”: choose a model.",
        "🔎 Модели по запросу «{query}»: выберите модель.",
    ),
    "search.none": (
        "🔎 No model matches “{query}”. Try other words, or choose a category:",
        "🔎 По запросу «{query}» моделей нет. Попробуйте другие слова или выберите раздел:",
    ),
    "search.usage": (
        "🔎 /models <words> finds models by name or by what they do (every word must match), "
        "e.g. /models video sound. Or choose a category:",
        "🔎 /models <слова> ищет модели по названию или по тому, что они делают (должны "
        "совпасть все слова), например /models видео звук. Или выберите раздел:",
    ),
    "model_off": (
        "{title} is turned off for now. Send /start to choose another model.",
        "Модель {title} сейчас выключена. Отправьте /start, чтобы выбрать другую.",
    ),
    # --- the operator's commands ---
    "model.usage": (
        "Usage: /model off <model_id> or /model on <model_id>.",
        "Формат: /model off <модель> или /model on <модель>.",
    ),
    "model.unknown": (
        "There is no model “{model}” in the catalog.",
        "В каталоге нет модели «{model}».",
    ),
    "model.turned_off": (
        "⛔ {model} is off: it left the menus, search and /gen. Jobs already confirmed "
        "finish. /model on {model} brings it back.",
        "⛔ {model} выключена: её больше нет в меню, поиске и /gen. Уже подтверждённые "
        "задания завершатся. Вернуть — /model on {model}.",
    ),
    "model.turned_on": (
        "✅ {model} is on: back in the menus at {price}.",
        "✅ {model} включена: снова в меню, цена {price}.",
    ),
    "price.usage": (
        "Usage: /price <model_id> <credits> (a whole number, at least 1) or "
        "/price <model_id> reset.",
        "Формат: /price <модель> <кредиты> (целое число, не меньше 1) или "
        "/price <модель> reset.",
    ),
    "price.free_model": (
        "{model} is a free model: it has no price to set.",
        "{model} — бесплатная модель: цену ей задать нельзя.",
    ),
    "price.set": (
        "💰 {model} now costs {price}. Orders already confirmed keep the price they were "
        "shown.",
        "💰 {model} теперь стоит {price}. Уже подтверждённые заказы сохраняют показанную цену.",
    ),
    "price.reset": (
        "💰 {model} is back at the catalog's price: {price}.",
        "💰 Для {model} снова цена из каталога: {price}.",
    ),
}

"""Every user-facing text, in English and Russian.

Texts are looked up by key in ``_TEXTS`` (``key -> (english, russian)``) and formatted with
``str.format``; the few that need logic (plurals, durations, KIE's failure messages) are
functions. Everything takes ``lang`` first. This module holds the helpers and the texts the
job pipeline sends (progress, results, failures, credits); the chat screens' texts live in
``texts_menu.py`` (plain data, looked up through ``t`` here).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from trt_actors.conversation.texts_admin import ADMIN_TEXTS
from trt_actors.conversation.texts_menu import FIELD_NAMES, KIND_LABELS, MENU_TEXTS

Lang = Literal["en", "ru"]
"""A supported interface language."""

LANGS: tuple[Lang, ...] = ("en", "ru")

_TEXTS: dict[str, tuple[str, str]] = {
    # --- job progress and results ---
    "progress.queued": ("⏳ Job #{job}: queued…", "⏳ Задание #{job}: в очереди…"),
    "progress.generating": (
        "🎨 Job #{job}: generating… {elapsed} elapsed",
        "🎨 Задание #{job}: генерация… прошло {elapsed}",
    ),
    "progress.delivering": (
        "📤 Job #{job}: sending the result…", "📤 Задание #{job}: отправляю результат…",
    ),
    "progress.done": ("✅ Job #{job}: done", "✅ Задание #{job}: готово"),
    "progress.failed": ("❌ Job #{job}: failed", "❌ Задание #{job}: не удалось"),
    "result.caption": ("✅ {title} · job #{job}", "✅ {title} · задание #{job}"),
    "result.link": ("Result: {url}", "Результат: {url}"),
    "result.links": (
        "These parts of the result could not be sent as files; here are their links:\n{links}",
        "Эти части результата не удалось отправить файлами, вот ссылки на них:\n{links}",
    ),
    # --- a result part whose send timed out (most likely in the chat) and re-sends ---
    "result.maybe_sent": (
        "If the result of job #{job} did not arrive, tap to get it again.",
        "Если результат задания #{job} не пришёл, нажмите, чтобы получить его ещё раз.",
    ),
    "result.resend_button": ("📥 Send it again", "📥 Прислать ещё раз"),
    "result.resend_queued": ("Sending it again…", "Отправляю ещё раз…"),
    "result.resend_capped": (
        "Already sent again {n} times; see /history for the links.",
        "Уже отправлено повторно {n} раза; ссылки есть в /history.",
    ),
    "result.resend_unavailable": (
        "This result can no longer be sent again.",
        "Этот результат больше нельзя отправить повторно.",
    ),
    # --- the bot works in private chats only ---
    "private_only": (
        "Talk to me in a private chat: {link}",
        "Напишите мне в личном чате: {link}",
    ),
    # --- failures: the first line says what happened, the refund line follows ---
    "fail.kie_failed": (
        "The model could not make this one: {reason}",
        "Модель не смогла это сделать: {reason}",
    ),
    "fail.kie_failed.unknown": (
        "The model could not make this one.",
        "Модель не смогла это сделать.",
    ),
    "fail.timed_out": (
        "The model took too long and the job was stopped.",
        "Модель работала слишком долго, и задание остановлено.",
    ),
    "fail.cancelled": ("The job was cancelled.", "Задание отменено."),
    "fail.undeliverable": (
        "The result could not be delivered to this chat.",
        "Не удалось доставить результат в этот чат.",
    ),
    "fail.kie_rejected": (
        "The model refused these settings (some input was not accepted). "
        "Please check the inputs, for example that links open directly to a picture.",
        "Модель не приняла эти параметры (какое-то значение не подошло). "
        "Проверьте ввод — например, что ссылки ведут прямо на изображение.",
    ),
    "fail.kie_unavailable": (
        "The generation service is unavailable right now; the operator has been alerted. "
        "Please try again later.",
        "Сервис генерации сейчас недоступен, оператор уже получил сигнал. "
        "Попробуйте позже.",
    ),
    "fail.submit_unknown": (
        "The generation service did not answer, so the job was stopped.",
        "Сервис генерации не ответил, поэтому задание остановлено.",
    ),
    "fail.file_gone": (
        "A file you sent could no longer be brought to the model (its upload had expired and "
        "it could not be uploaded again), so the job did not start. Please send it again.",
        "Отправленный файл больше не удалось передать модели (срок хранения загрузки истёк, "
        "а загрузить его заново не получилось), поэтому задание не запущено. "
        "Пожалуйста, отправьте его снова.",
    ),
    "fail.other": ("The job failed.", "Задание не выполнено."),
    "fail.header": ("❌ Job #{job} failed.", "❌ Задание #{job} не выполнено."),
    "fail.refund": (
        "Your {credits} have been returned to your balance.",
        "{credits} возвращены на ваш баланс.",
    ),
    "fail.refund.free": (
        "It was free, so nothing was charged; it does not count against your free limit.",
        "Это была бесплатная генерация: ничего не списано, в дневной лимит она не засчитана.",
    ),
    # --- credits ---
    "welcome_grant": (
        "🎁 Welcome! You got {credits} to try the paid models.",
        "🎁 Добро пожаловать! Вам начислено {credits} — попробуйте платные модели.",
    ),
    "topup_credited": (
        "⭐ Payment received: +{credits}. Your balance: {balance}.",
        "⭐ Оплата получена: +{credits}. Ваш баланс: {balance}.",
    ),
    "topup_already": (
        "This payment is already on your balance. Your balance: {balance}.",
        "Этот платёж уже зачислен. Ваш баланс: {balance}.",
    ),
    "insufficient": (
        "💳 Not enough credits: this needs {needed}, your balance is {balance}. "
        "Top up with /topup, then confirm again.",
        "💳 Недостаточно кредитов: нужно {needed}, на балансе {balance}. "
        "Пополните баланс через /topup и подтвердите снова.",
    ),
    "free_limit": (
        "🎁 You have used all {limit} free generations for today. "
        "Come back tomorrow, or choose a paid model.",
        "🎁 Бесплатные генерации на сегодня закончились (лимит — {limit}). "
        "Возвращайтесь завтра или выберите платную модель.",
    ),
    "free_off": (
        "🎁 Free generations are switched off on this bot. Please choose a paid model.",
        "🎁 Бесплатные генерации в этом боте отключены. Выберите платную модель.",
    ),
    "menu_expired": (
        "⌛ This menu has expired. Please use the latest message, or /start.",
        "⌛ Это меню устарело. Используйте последнее сообщение или /start.",
    ),
    "unexpected": (
        "🤔 I did not understand that.",
        "🤔 Я не понял это сообщение.",
    ),
    "unexpected.idle": (
        "🤔 I did not understand that. Send /start to choose a model, or /help.",
        "🤔 Я не понял это сообщение. Отправьте /start, чтобы выбрать модель, или /help.",
    ),
    "unknown_command": (
        "🤔 Unknown command /{name}. See /help.",
        "🤔 Неизвестная команда /{name}. Список команд — /help.",
    ),
}
_TEXTS.update(ADMIN_TEXTS)  # issue 14: admin panel, promo codes, Stars, limits


def lang_for(language_code: str | None) -> Lang:
    """The language for a Telegram ``language_code``: ``ru*`` is Russian, anything else English."""
    return "ru" if (language_code or "").lower().startswith("ru") else "en"


def t(lang: str, key: str, **values: Any) -> str:
    """The text ``key`` in ``lang`` (English if unknown), formatted with ``values``."""
    en, ru = _lookup(key)
    return (ru if lang == "ru" else en).format(**values)


def _lookup(key: str) -> tuple[str, str]:
    return _TEXTS.get(key) or MENU_TEXTS[key]


def has_text(key: str) -> bool:
    """True if ``key`` names a text (for keys built from data, like job states)."""
    return key in _TEXTS or key in MENU_TEXTS


def all_texts() -> dict[str, tuple[str, str]]:
    """Every text by key (for tests that check both languages are complete)."""
    return {**_TEXTS, **MENU_TEXTS}


def kind_label(lang: str, kind: str) -> str:
    """A model kind's menu label ("🖼 Images"); unknown kinds get a tidied version of the id."""
    if kind in KIND_LABELS:
        en, ru = KIND_LABELS[kind]
        return ru if lang == "ru" else en
    return kind.replace("-", " ").replace("_", " ").capitalize()


def field_name(lang: str, name: str) -> str | None:
    """A field's short name for summaries and buttons ("Aspect ratio"), None if unknown."""
    if name in FIELD_NAMES:
        en, ru = FIELD_NAMES[name]
        return ru if lang == "ru" else en
    return None


def plural_ru(n: int, one: str, few: str, many: str) -> str:
    """The Russian plural form for ``n`` (1 кредит, 2 кредита, 5 кредитов, 21 кредит)."""
    n = abs(n)
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


def credits(lang: str, n: int) -> str:
    """``n`` credits, with the right plural form."""
    if lang == "ru":
        return f"{n} {plural_ru(n, 'кредит', 'кредита', 'кредитов')}"
    return f"{n} credit" if abs(n) == 1 else f"{n} credits"


def clock(seconds: float) -> str:
    """Elapsed time as ``m:ss`` (or ``h:mm:ss``)."""
    s = max(0, int(seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def duration(lang: str, seconds: float) -> str:
    """A rough duration for people: "about 40 s", "about 3 min"."""
    s = max(1, round(seconds))
    if s < 90:
        return f"~{s} с" if lang == "ru" else f"~{s} s"
    minutes = round(s / 60)
    return f"~{minutes} мин" if lang == "ru" else f"~{minutes} min"


# --- texts the job pipeline sends ------------------------------------------------------------


def job_progress(lang: str, stage: str, *, job_id: int, elapsed_seconds: float = 0) -> str:
    """The job's progress message; ``stage`` is queued, generating, delivering, done or failed."""
    key = f"progress.{stage}"
    if key not in _TEXTS:
        key = "progress.generating"
    return t(lang, key, job=job_id, elapsed=clock(elapsed_seconds))


def result_caption(lang: str, title: str, *, job_id: int) -> str:
    """The caption under a delivered result: the model's title and the job number."""
    return t(lang, "result.caption", title=title, job=job_id)


def result_link(lang: str, url: str) -> str:
    """A result sent as a link (too big to upload)."""
    return t(lang, "result.link", url=url)


def result_links(lang: str, urls: list[str]) -> str:
    """The parts of a partly delivered result that could not go as files, in one message."""
    return t(lang, "result.links", links="\n".join(urls))


def private_only(lang: str, bot_username: str | None) -> str:
    """The one line the bot answers in a group or channel."""
    link = f"t.me/{bot_username}" if bot_username else "t.me"
    return t(lang, "private_only", link=link)


_KIE_HINTS: tuple[tuple[str, tuple[str, str]], ...] = (
    (
        r"sensitive|nsfw|safety|policy|moderat|prohibit|inappropriate|flagged|violat",
        ("the request was blocked by the content filter; try rewording it",
         "запрос заблокирован фильтром контента; попробуйте переформулировать"),
    ),
    (
        r"download|fetch|access|unreachable|invalid (image|url)|image.*(url|link)|file.*(url|link)",
        ("the model could not open one of the links; send a direct public link to the file",
         "модель не смогла открыть одну из ссылок; пришлите прямую публичную ссылку на файл"),
    ),
    (
        r"timeout|timed out|time out",
        ("the model timed out", "модель не уложилась во время"),
    ),
    (
        r"too (long|large|big)|exceed|limit",
        ("an input was too long or too large", "какое-то значение слишком длинное или большое"),
    ),
)


def simplify_kie_message(lang: str, message: str | None) -> str | None:
    """KIE's failure message in plain words, or ``None`` when there is nothing useful in it.

    Known causes become a sentence in the user's language; anything else is KIE's own text,
    cut to its first sentence, without links or codes, and kept short.
    """
    if not message or not message.strip():
        return None
    low = message.lower()
    for pattern, (en, ru) in _KIE_HINTS:
        if re.search(pattern, low):
            return ru if lang == "ru" else en
    text = re.sub(r"https?://\S*[^\s.,;:!?)]", "", message)  # links may carry tokens
    text = re.sub(r"[{}\[\]\"]", "", text)
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    text = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
    if len(text) > 150:
        text = text[:149].rstrip() + "…"
    return text or None


def failure_message(
    lang: str, reason: str, *, job_id: int, price: int, kie_message: str | None = None,
) -> str:
    """Why job ``job_id`` failed, in plain words, always saying the credits were returned.

    ``reason`` is a ``states.Failure`` value; ``price`` is what was held (0 for a free model).
    """
    if reason == "kie_failed":
        simple = simplify_kie_message(lang, kie_message)
        why = t(lang, "fail.kie_failed", reason=simple) if simple else t(
            lang, "fail.kie_failed.unknown")
    elif f"fail.{reason}" in _TEXTS:
        why = t(lang, f"fail.{reason}")
    else:
        why = t(lang, "fail.other")
    refund = (t(lang, "fail.refund", credits=credits(lang, price)) if price > 0
              else t(lang, "fail.refund.free"))
    return f"{t(lang, 'fail.header', job=job_id)}\n{why}\n{refund}"


def welcome_grant(lang: str, amount: int) -> str:
    """Sent once when a new user gets their welcome credits."""
    return t(lang, "welcome_grant", credits=credits(lang, amount))


def topup_credited(lang: str, amount: int, balance: int) -> str:
    """A Stars payment was turned into credits."""
    return t(lang, "topup_credited", credits=credits(lang, amount), balance=credits(lang, balance))


def insufficient_credits(lang: str, needed: int, balance: int) -> str:
    """A confirm was refused for lack of credits (how many needed, the balance, /topup)."""
    return t(lang, "insufficient", needed=credits(lang, needed), balance=credits(lang, balance))


def free_limit_reached(lang: str, limit: int) -> str:
    """The user has used today's free generations (a limit of 0: there are none)."""
    if limit <= 0:
        return t(lang, "free_off")
    return t(lang, "free_limit", limit=limit)


def menu_expired(lang: str) -> str:
    """The answer to a button on an old message."""
    return t(lang, "menu_expired")


def unexpected_input(lang: str, question: str | None = None) -> str:
    """The answer to input the bot did not expect, repeating the current question if any."""
    if question:
        return f"{t(lang, 'unexpected')}\n\n{question}"
    return t(lang, "unexpected.idle")

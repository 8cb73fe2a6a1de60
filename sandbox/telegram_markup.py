"""Checks Telegram makes on text markup and keyboards, with Telegram's error wording.

The parse-mode checks are deliberately simpler than Telegram's parser, but they fail on the
mistakes a bot really makes: a stray ``<`` in HTML, unknown or unclosed tags, unescaped
reserved characters (``.``, ``!``, ``-``...) and unclosed entities in MarkdownV2.
"""

from __future__ import annotations

import html
import re

from sandbox.telegram_model import JSON, ApiError, bad_request

HTML_TAGS = frozenset(
    {
        "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
        "a", "tg-emoji", "code", "pre", "blockquote",
    }
)
MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
MDV2_ALWAYS_ESCAPED = frozenset("#+-={}.!>")
MDV2_ENTITY = {"*": "Bold", "_": "Italic", "~": "Strikethrough", "|": "Spoiler"}
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^<>]*)?)>")
_ENTITY = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|lt|gt|amp|quot);")
MAX_TEXT = 4096
MAX_CAPTION = 1024


def _cant_parse(reason: str) -> ApiError:
    return bad_request(f"can't parse entities: {reason}")


def _offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _check_html(text: str) -> str:
    stack: list[str] = []
    plain: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "<":
            m = _TAG.match(text, i)
            if m is None:
                raise _cant_parse(f"Unsupported start tag at byte offset {_offset(text, i)}")
            closing, name = m.group(1) == "/", m.group(2).lower()
            if name not in HTML_TAGS:
                raise _cant_parse(
                    f'Unsupported start tag "{name}" at byte offset {_offset(text, i)}'
                )
            if closing:
                if not stack or stack[-1] != name:
                    raise _cant_parse(
                        f'Can\'t find end tag corresponding to start tag "{stack[-1]}"'
                        if stack
                        else f"Unexpected end tag at byte offset {_offset(text, i)}"
                    )
                stack.pop()
            else:
                stack.append(name)
            i = m.end()
        elif ch == "&":
            # Like Telegram's parser: a known entity is decoded, anything else stays literal.
            m = _ENTITY.match(text, i)
            plain.append(html.unescape(m.group(0)) if m else "&")
            i = m.end() if m else i + 1
        else:
            plain.append(ch)
            i += 1
    if stack:
        raise _cant_parse(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(plain)


def _check_markdown_v2(text: str) -> str:
    plain: list[str] = []
    open_at: dict[str, int] = {}
    i = 0
    link_depth = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            if i + 1 < len(text):
                plain.append(text[i + 1])
            i += 2
            continue
        if ch == "`":
            fence = "```" if text.startswith("```", i) else "`"
            end = text.find(fence, i + len(fence))
            if end < 0:
                entity = "Pre" if fence == "```" else "Code"
                raise _cant_parse(
                    f"Can't find end of {entity} entity at byte offset {_offset(text, i)}"
                )
            plain.append(text[i + len(fence) : end])
            i = end + len(fence)
            continue
        if ch == ">" and (i == 0 or text[i - 1] == "\n"):
            i += 1  # blockquote marker
            continue
        if ch in MDV2_ALWAYS_ESCAPED or (ch in "()]" and link_depth == 0):
            raise _cant_parse(
                f"Character '{ch}' is reserved and must be escaped with the preceding '\\'"
            )
        if ch == "[":
            link_depth += 1
        elif ch == "]":
            link_depth -= 1
            m = re.match(r"\]\(((?:\\.|[^)\\])*)\)", text[i:])
            if m is None:
                raise _cant_parse(f"Can't find end of link at byte offset {_offset(text, i)}")
            i += m.end()
            continue
        elif ch in MDV2_ENTITY or ch == "_":
            key = "__" if text.startswith("__", i) else ("||" if text.startswith("||", i) else ch)
            if key in open_at:
                del open_at[key]
            else:
                open_at[key] = i
            i += len(key)
            continue
        else:
            plain.append(ch)
        i += 1
    if open_at:
        key, at = min(open_at.items(), key=lambda kv: kv[1])
        name = "Underline" if key == "__" else MDV2_ENTITY.get(key[0], "Italic")
        raise _cant_parse(f"Can't find end of {name} entity at byte offset {_offset(text, at)}")
    return "".join(plain)


def _check_markdown(text: str) -> str:
    plain: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "*_`":
            end = text.find(ch, i + 1)
            if end < 0:
                raise _cant_parse(
                    f"Can't find end of the entity starting at byte offset {_offset(text, i)}"
                )
            plain.append(text[i + 1 : end])
            i = end + 1
            continue
        plain.append(ch)
        i += 1
    return "".join(plain)


def render(text: str, parse_mode: str | None, *, validate: bool, caption: bool = False) -> str:
    """Validate ``text`` for ``parse_mode`` and return the plain text Telegram would store."""
    limit = MAX_CAPTION if caption else MAX_TEXT
    mode = (parse_mode or "").lower()
    try:
        if mode == "html":
            plain = _check_html(text)
        elif mode == "markdownv2":
            plain = _check_markdown_v2(text)
        elif mode == "markdown":
            plain = _check_markdown(text)
        elif mode:
            raise bad_request(f"unsupported parse_mode {parse_mode}")
        else:
            plain = text
    except ApiError:
        if validate:
            raise
        plain = text
    if not plain.strip() and not caption:
        raise bad_request("message text is empty")
    if len(plain) > limit:
        raise bad_request("message caption is too long" if caption else "message is too long")
    return plain


def check_reply_markup(markup: JSON | None) -> JSON | None:
    """Validate a reply_markup; return it when it is an inline keyboard (echoed in Message)."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is None:
        if not {"keyboard", "remove_keyboard", "force_reply"} & set(markup):
            raise bad_request("can't parse reply keyboard markup JSON object")
        return None
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise bad_request("field \"inline_keyboard\" of the InlineKeyboardMarkup must be an Array")
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not button.get("text"):
                raise bad_request("can't parse inline keyboard button: Text buttons are unallowed")
            if "callback_data" in button:
                data = button["callback_data"]
                if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= 64:
                    raise bad_request("BUTTON_DATA_INVALID")
            elif "url" in button:
                if not re.match(r"(https?|tg)://", str(button["url"])):
                    raise bad_request("BUTTON_URL_INVALID")
            elif not {"pay", "switch_inline_query", "web_app", "copy_text", "login_url"} & set(
                button
            ):
                raise bad_request(
                    "can't parse inline keyboard button: InlineKeyboardButton must have exactly "
                    "one optional field"
                )
    return markup

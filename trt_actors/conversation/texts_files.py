"""The texts about files users send (photos, videos, audio as model inputs), English and
Russian; merged into ``texts_menu.MENU_TEXTS`` and looked up through ``texts.t``."""

from __future__ import annotations

FILE_TEXTS: dict[str, tuple[str, str]] = {
    "file.hint": (
        "📎 Send it here as a photo or file (up to {limit} MB), or send a link.",
        "📎 Пришлите сюда фото или файл (до {limit} МБ) или ссылку.",
    ),
    "file.hint_list": (
        "📎 Send up to {max} here as photos or files (an album works too, up to {limit} MB "
        "each), then press Done; or send the links.",
        "📎 Пришлите сюда до {max} фото или файлов (можно альбомом, до {limit} МБ каждый), "
        "затем нажмите «Готово»; или пришлите ссылки.",
    ),
    "file.uploading": ("⏳ Got it, uploading…", "⏳ Получил, загружаю…"),
    "file.received": (
        "✅ Received {n} of up to {max} {what}.",
        "✅ Получено {n} из {max} ({what}).",
    ),
    "file.too_big": (
        "⚠️ This file is too big: Telegram lets bots download files of at most {limit} MB. "
        "Send a smaller one, or a link.",
        "⚠️ Файл слишком большой: Telegram позволяет ботам скачивать файлы не больше "
        "{limit} МБ. Пришлите файл поменьше или ссылку.",
    ),
    "file.model_too_big": (
        "⚠️ This file is too big: this model takes files of at most {limit} MB. "
        "Send a smaller one, or a link.",
        "⚠️ Файл слишком большой: эта модель принимает файлы не больше {limit} МБ. "
        "Пришлите файл поменьше или ссылку.",
    ),
    "file.too_long": (
        "⚠️ This recording is too long: this model takes at most {limit} seconds "
        "(its price is for that long). Send a shorter one.",
        "⚠️ Запись слишком длинная: эта модель принимает не больше {limit} секунд "
        "(цена рассчитана на столько). Пришлите запись покороче.",
    ),
    "file.wrong_kind": (
        "⚠️ This needs {what}; what you sent is not one. Send {what}, or a link.",
        "⚠️ Здесь нужно: {what}; присланный файл не подходит. Пришлите {what} или ссылку.",
    ),
    "file.too_many": (
        "⚠️ At most {max} here: that one was not taken.",
        "⚠️ Здесь не больше {max}: этот файл не принят.",
    ),
    "file.failed": (
        "⚠️ Your file could not be uploaded (a temporary error). Nothing was charged; "
        "please send it again.",
        "⚠️ Не удалось загрузить ваш файл (временная ошибка). Ничего не списано; "
        "пришлите его ещё раз.",
    ),
    "file.lost": (
        "⚠️ A file you sent before the bot restarted did not arrive; send it again if you "
        "need it.",
        "⚠️ Файл, отправленный до перезапуска бота, не дошёл; пришлите его ещё раз, если он "
        "нужен.",
    ),
    "file.wait": (
        "⏳ Still uploading your file; one moment.",
        "⏳ Ещё загружаю ваш файл, минуту.",
    ),
    "file.shown": ("📎 {n} file(s) sent in the chat", "📎 файлов из чата: {n}"),
    "file.what.image": ("an image", "изображение"),
    "file.what.video": ("a video", "видео"),
    "file.what.audio": ("an audio file", "аудиофайл"),
    "file.what.any": ("an image, video or audio file", "изображение, видео или аудио"),
    "file.items.image": ("images", "изображений"),
    "file.items.video": ("videos", "видео"),
    "file.items.audio": ("audio files", "аудиофайлов"),
    "file.items.any": ("files", "файлов"),
    "btn.files_done": ("✅ Done", "✅ Готово"),
}

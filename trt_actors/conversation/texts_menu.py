"""The chat screens' texts, English and Russian: plain data, looked up through ``texts.t``.

Keys group by screen (``start.``, ``card.``, ``ask.``, ``confirm.`` ...); ``btn.`` keys are
button labels. Placeholders are ``str.format`` fields and must match in both languages (a
unit test checks that).
"""

from __future__ import annotations

from trt_actors.conversation.texts_files import FILE_TEXTS
from trt_actors.conversation.texts_growth import GROWTH_TEXTS
from trt_actors.conversation.texts_models import MODEL_TEXTS

KIND_LABELS: dict[str, tuple[str, str]] = {
    # Each kind's button inside its category (texts_models.CATEGORIES).
    "text-to-image": ("🖼 Text to image", "🖼 Картинка по описанию"),
    "image-to-image": ("🔁 Image to image", "🔁 Картинка по картинке"),
    "image-edit": ("✏️ Image editing", "✏️ Редактирование фото"),
    "upscale": ("🔍 Upscale", "🔍 Увеличение"),
    "background-removal": ("✂️ Remove background", "✂️ Удаление фона"),
    "reframe": ("📐 Reframe", "📐 Смена формата кадра"),
    "text-to-video": ("🎬 Text to video", "🎬 Видео по описанию"),
    "image-to-video": ("🎞 Image to video", "🎞 Видео из картинки"),
    "video-to-video": ("🔄 Video to video", "🔄 Видео по видео"),
    "lip-sync": ("👄 Avatars and lip-sync", "👄 Аватары и синхронизация губ"),
    "video-upscale": ("🔍 Video upscale", "🔍 Увеличение видео"),
    "music": ("🎵 Music", "🎵 Музыка"),
    "music-extend": ("⏩ Extend a song", "⏩ Продолжение песни"),
    "sound-effects": ("💥 Sound effects", "💥 Звуковые эффекты"),
    "audio-isolation": ("🎙 Voice isolation", "🎙 Выделение голоса"),
    "text-to-speech": ("🗣 Text to speech", "🗣 Озвучка текста"),
    "speech-to-text": ("📝 Speech to text", "📝 Расшифровка речи"),
}

FIELD_NAMES: dict[str, tuple[str, str]] = {
    # Short names for summaries and buttons; the catalog's label is the wizard's question.
    "prompt": ("Prompt", "Описание"),
    "text": ("Text", "Текст"),
    "negative_prompt": ("Avoid", "Чего избегать"),
    "aspect_ratio": ("Aspect ratio", "Соотношение сторон"),
    "aspectRatio": ("Aspect ratio", "Соотношение сторон"),
    # Runway, Midjourney, 4o image, Flux Kontext, Veo/Suno follow-ups (gateways/kie/families.py)
    "imageUrl": ("Picture", "Картинка"),
    "inputImage": ("Picture", "Картинка"),
    "filesUrl": ("Pictures", "Картинки"),
    "nVariants": ("Variants", "Варианты"),
    "version": ("Version", "Версия"),
    "enableTranslation": ("Translate prompt", "Перевод описания"),
    "taskId": ("Source task", "Исходная задача"),
    "index": ("Video number", "Номер видео"),
    "audioId": ("Source track", "Исходный трек"),
    "defaultParamFlag": ("Own lyrics and style", "Свой текст и стиль"),
    "continueAt": ("Continue from, s", "Продолжить с, с"),
    "image_size": ("Image size", "Размер"),
    "resolution": ("Resolution", "Разрешение"),
    "quality": ("Quality", "Качество"),
    "num_images": ("Number of images", "Количество картинок"),
    "num_inference_steps": ("Steps", "Шаги"),
    "guidance_scale": ("Guidance", "Точность следования"),
    "strength": ("Strength", "Сила изменения"),
    "seed": ("Seed", "Seed"),
    "enable_safety_checker": ("Safety filter", "Фильтр безопасности"),
    "output_format": ("File format", "Формат файла"),
    "acceleration": ("Speed-up", "Ускорение"),
    "rendering_speed": ("Rendering speed", "Скорость отрисовки"),
    "style": ("Style", "Стиль"),
    "mode": ("Mode", "Режим"),
    "image": ("Image link", "Ссылка на картинку"),
    "image_url": ("Image link", "Ссылка на картинку"),
    "image_urls": ("Image links", "Ссылки на картинки"),
    "imageUrls": ("Image links", "Ссылки на картинки"),
    "image_input": ("Reference images", "Картинки-образцы"),
    "input_urls": ("Image links", "Ссылки на картинки"),
    "upscale_factor": ("Upscale factor", "Во сколько раз увеличить"),
    "duration": ("Duration, s", "Длительность, с"),
    "n_frames": ("Duration, s", "Длительность, с"),
    "sound": ("Sound", "Звук"),
    "remove_watermark": ("Remove watermark", "Убрать водяной знак"),
    "customMode": ("Custom mode", "Свой режим"),
    "instrumental": ("Instrumental", "Без вокала"),
    "title": ("Title", "Название"),
    "voice": ("Voice", "Голос"),
    "stability": ("Stability", "Стабильность"),
    "similarity_boost": ("Similarity", "Похожесть"),
    "speed": ("Speed", "Скорость"),
    "language_code": ("Language", "Язык"),
    "audio_url": ("Audio link", "Ссылка на аудио"),
    "video_url": ("Video link", "Ссылка на видео"),
    "video_urls": ("Video links", "Ссылки на видео"),
    "end_image_url": ("Last frame", "Последний кадр"),
    "tail_image_url": ("Last frame", "Последний кадр"),
    "mask_url": ("Mask link", "Ссылка на маску"),
    "camera_fixed": ("Still camera", "Неподвижная камера"),
    "cfg_scale": ("Guidance", "Точность следования"),
    "prompt_optimizer": ("Improve prompt", "Улучшить описание"),
    "enable_prompt_expansion": ("Expand prompt", "Дополнить описание"),
    "expand_prompt": ("Expand prompt", "Дополнить описание"),
    "size": ("Quality", "Качество"),
    "image_resolution": ("Resolution", "Разрешение"),
    "max_images": ("Number of images", "Количество картинок"),
    "diarize": ("Mark speakers", "Отмечать говорящих"),
    "tag_audio_events": ("Mark sounds", "Отмечать звуки"),
    "duration_seconds": ("Duration, s", "Длительность, с"),
    "loop": ("Loop", "Повтор"),
    "prompt_influence": ("Follow the prompt", "Следование описанию"),
}

MENU_TEXTS: dict[str, tuple[str, str]] = {
    # --- "next step" buttons under a result (conversation/next_step.py) ---
    "next.edit": ("✏️ Edit", "✏️ Изменить"),
    "next.animate": ("🎞 Animate", "🎞 Оживить"),
    "next.upscale": ("🔍 Upscale", "🔍 Увеличить"),
    "next.nobg": ("✂️ Remove background", "✂️ Убрать фон"),
    "next.again": ("🔁 Again", "🔁 Ещё раз"),
    "next.buttons": ("What next?", "Что дальше?"),
    "next.pick": (
        "Which model should take result #{job}?",
        "Какой модели передать результат №{job}?",
    ),
    "next.gone": (
        "This result is no longer available: start a new order from /start.",
        "Этот результат больше недоступен: начните новый заказ через /start.",
    ),
    "next.none": (
        "No model takes this result any more.",
        "Этот результат больше не принимает ни одна модель.",
    ),
    "next.prefilled": (
        "Using result #{job} as the input.",
        "Беру результат №{job} как входные данные.",
    ),
    "next.follows": (
        "Continuing result #{job}.",
        "Продолжаю результат №{job}.",
    ),
    # --- buttons ---
    "btn.free": ("🎁 Free models", "🎁 Бесплатные модели"),
    "btn.topup": ("⭐ Top up", "⭐ Пополнить"),
    "btn.lang": ("🌐 Language", "🌐 Язык"),
    "btn.help": ("❓ Help", "❓ Помощь"),
    "btn.back": ("⬅️ Back", "⬅️ Назад"),
    "btn.cancel": ("❌ Cancel", "❌ Отмена"),
    "btn.start_model": ("▶️ Start", "▶️ Начать"),
    "btn.yes": ("✅ Yes", "✅ Да"),
    "btn.no": ("🚫 No", "🚫 Нет"),
    "btn.default": ("↩️ Use the default", "↩️ По умолчанию"),
    "btn.use_defaults": ("✅ Use defaults", "✅ Оставить по умолчанию"),
    "btn.continue": ("✅ Continue", "✅ Продолжить"),
    "btn.confirm": ("✅ Confirm · {price}", "✅ Подтвердить · {price}"),
    "btn.edit": ("✏️ Change a setting", "✏️ Изменить параметр"),
    "btn.field": ("✏️ {label}", "✏️ {label}"),
    "btn.model": ("{title} · {price}", "{title} · {price}"),
    "btn.pack": ("{stars} ⭐ → {credits}", "{stars} ⭐ → {credits}"),
    # --- main menu and catalog ---
    "start": (
        "👋 Hi! I make pictures, video, music and speech with AI models.\n"
        "💰 Your balance: {balance}.\n\nWhat would you like to make?",
        "👋 Привет! Я создаю картинки, видео, музыку и озвучку с помощью нейросетей.\n"
        "💰 Ваш баланс: {balance}.\n\nЧто будем делать?",
    ),
    "kind.title": ("{kind}: choose a model.", "{kind}: выберите модель."),
    "free.title": (
        "🎁 Free models (a few generations a day):",
        "🎁 Бесплатные модели (несколько генераций в день):",
    ),
    "kind.empty": ("No models here yet.", "Здесь пока нет моделей."),
    "price.free": ("free", "бесплатно"),
    "price.from": ("from {price}", "от {price}"),
    "price.up_to": ("up to {price}", "до {price}"),
    "card.price": ("💰 Price: {price}", "💰 Цена: {price}"),
    "card.time": (
        "⏱ Usually takes {expected}, at most {max}.",
        "⏱ Обычно занимает {expected}, максимум {max}.",
    ),
    "card.example": ("📝 Example:", "📝 Пример:"),
    "card.gen": (
        "⚡ Shortcut: {command}",
        "⚡ Быстрый запуск: {command}",
    ),
    # --- the wizard ---
    "ask.step": ("Step {i}/{n} · {label}", "Шаг {i}/{n} · {label}"),
    "ask.optional": ("⚙️ {label} (optional)", "⚙️ {label} (необязательно)"),
    "ask.edit": ("✏️ {label}", "✏️ {label}"),
    "ask.current": ("Current value: {value}", "Текущее значение: {value}"),
    "ask.default": ("Default: {value}", "По умолчанию: {value}"),
    "hint.enum": (
        "Choose one of the buttons (or type the value).",
        "Выберите вариант кнопкой (или напишите значение).",
    ),
    "hint.boolean": ("Yes or no?", "Да или нет?"),
    "hint.links_note": (
        "Photos and files sent to this chat cannot be passed to the model: upload them "
        "somewhere public and send the links.",
        "Фото и файлы из этого чата нельзя передать модели: загрузите их в открытый доступ "
        "и пришлите ссылки.",
    ),
    "rejected": ("❌ {message}", "❌ {message}"),
    "media_not_link": (
        "📎 Please send a link (http:// or https://) instead of a photo or file: the model "
        "can only take links, not files uploaded to Telegram.",
        "📎 Пожалуйста, пришлите ссылку (http:// или https://), а не фото или файл: модель "
        "принимает только ссылки, а не файлы, загруженные в Telegram.",
    ),
    "buttons_please": (
        "Please use the buttons below.", "Пожалуйста, воспользуйтесь кнопками ниже.",
    ),
    "value.yes": ("yes", "да"),
    "value.no": ("no", "нет"),
    "value.default": ("default", "по умолчанию"),
    "value.default_is": ("default ({value})", "по умолчанию ({value})"),
    "options.title": (
        "⚙️ Optional settings for {title}:", "⚙️ Дополнительные параметры для {title}:",
    ),
    "options.footer": (
        "Keep the defaults, or choose a setting to change.",
        "Оставьте значения по умолчанию или выберите параметр, чтобы изменить его.",
    ),
    # --- confirm ---
    "confirm.title": ("📝 Please check your order:", "📝 Проверьте заказ:"),
    "confirm.model": ("Model: {title}", "Модель: {title}"),
    "confirm.price": ("💰 Price: {price}", "💰 Цена: {price}"),
    "confirm.balance": (
        "Balance: {balance} → after: {after}", "Баланс: {balance} → после: {after}",
    ),
    "confirm.invalid": (
        "❌ Some settings are not valid:\n{errors}", "❌ Некоторые параметры неверны:\n{errors}",
    ),
    "edit.title": (
        "Which setting do you want to change?", "Какой параметр хотите изменить?",
    ),
    "accepted": (
        "🚀 Job #{job} accepted: {title}. I will send the result here.",
        "🚀 Задание #{job} принято: {title}. Результат пришлю сюда.",
    ),
    "cancel.wizard": (
        "Cancelled. Send /start to begin again.",
        "Отменено. Отправьте /start, чтобы начать заново.",
    ),
    "cancel.job": (
        "Job #{job} cancelled; its credits are returned to your balance.",
        "Задание #{job} отменено, кредиты возвращены на баланс.",
    ),
    "cancel.nothing": (
        "Nothing to cancel: jobs already sent to the model cannot be stopped.",
        "Нечего отменять: задания, уже отправленные модели, остановить нельзя.",
    ),
    "cancel.too_late": (
        "Too late to cancel job #{job}: it is being generated. The result will come here.",
        "Поздно отменять задание #{job}: оно уже генерируется. Результат придёт сюда.",
    ),
    "model_gone": (
        "This model is no longer available. Send /start to choose another.",
        "Эта модель больше недоступна. Отправьте /start, чтобы выбрать другую.",
    ),
    # --- /gen ---
    "gen.usage": (
        "Usage: /gen <model_id> field=value field=\"value with spaces\" …\nExample: {example}",
        "Формат: /gen <модель> поле=значение поле=\"значение с пробелами\" …\nПример: {example}",
    ),
    "gen.errors": (
        "❌ /gen was not accepted:\n{errors}", "❌ Команда /gen не принята:\n{errors}",
    ),
    "gen.follow_up": (
        "{title} continues a result: use the button under it.",
        "{title} продолжает готовый результат: нажмите кнопку под ним.",
    ),
    "gen.unknown_model": (
        "Unknown model “{model}”. Send /start to see the catalog.",
        "Неизвестная модель «{model}». Каталог — /start.",
    ),
    "gen.bad_quotes": (
        "Could not read the command ({error}); check the quotes.",
        "Не удалось разобрать команду ({error}); проверьте кавычки.",
    ),
    "gen.not_pair": ("“{token}” is not field=value.", "«{token}» — не в формате поле=значение."),
    "gen.unknown_field": (
        "{model} has no field “{field}”. Its fields: {fields}.",
        "У модели {model} нет поля «{field}». Поля модели: {fields}.",
    ),
    "gen.duplicate": ("“{field}” is given twice.", "Поле «{field}» указано дважды."),
    # --- account ---
    "balance": (
        "💰 Your balance: {balance}.\nTop up with /topup.",
        "💰 Ваш баланс: {balance}.\nПополнить — /topup.",
    ),
    "history.title": ("🧾 Your recent jobs:", "🧾 Ваши последние задания:"),
    "history.empty": (
        "No jobs yet. Send /start to make something.",
        "Заданий пока нет. Отправьте /start, чтобы что-нибудь создать.",
    ),
    "state.created": ("⏳ queued", "⏳ в очереди"),
    "state.submitting": ("⏳ sending to the model", "⏳ отправляется модели"),
    "state.submitted": ("⏳ waiting for the model", "⏳ ждёт модель"),
    "state.running": ("🎨 generating", "🎨 генерируется"),
    "state.succeeded": ("📤 sending the result", "📤 результат отправляется"),
    "state.delivering": ("📤 sending the result", "📤 результат отправляется"),
    "state.delivered": ("✅ delivered", "✅ доставлено"),
    "state.failed": ("❌ failed, credits returned", "❌ не выполнено, кредиты возвращены"),
    "why.cancelled": ("cancelled", "отменено"),
    "why.timed_out": ("took too long", "слишком долго"),
    "why.kie_failed": ("the model failed", "ошибка модели"),
    "why.kie_rejected": ("inputs not accepted", "параметры не приняты"),
    "why.kie_unavailable": ("service unavailable", "сервис недоступен"),
    "why.submit_unknown": ("service did not answer", "сервис не ответил"),
    "why.undeliverable": ("could not deliver", "не удалось доставить"),
    "help": (
        "I make pictures, video, music and speech with AI models.\n\n"
        "/start — choose a model\n"
        "/models <words> — find a model by name or by what it does\n"
        "/gen <model> field=value … — go straight to the order (for power users)\n"
        "/balance — your credits\n"
        "/topup — buy credits with Telegram Stars\n"
        "/promo CODE — redeem a promo code\n"
        "/history — your recent jobs and their results\n"
        "/invite — your link to invite friends\n"
        "/stop — no more announcements (/start turns them back on)\n"
        "/cancel — stop the current order, or a job not yet sent to the model\n"
        "/lang — change the language\n"
        "/terms — terms of use · /paysupport — help with a payment\n\n"
        "Credits are held when you confirm and taken only when the result is delivered; "
        "if a job fails, they come back.",
        "Я создаю картинки, видео, музыку и озвучку с помощью нейросетей.\n\n"
        "/start — выбрать модель\n"
        "/models <слова> — найти модель по названию или по тому, что она делает\n"
        "/gen <модель> поле=значение … — сразу к заказу (для опытных)\n"
        "/balance — ваши кредиты\n"
        "/topup — купить кредиты за Telegram Stars\n"
        "/promo КОД — активировать промокод\n"
        "/history — последние задания и их результаты\n"
        "/invite — ваша ссылка для приглашения друзей\n"
        "/stop — отписаться от рассылок (/start снова включит)\n"
        "/cancel — отменить текущий заказ или задание, ещё не отправленное модели\n"
        "/lang — сменить язык\n"
        "/terms — условия использования · /paysupport — помощь с оплатой\n\n"
        "Кредиты резервируются при подтверждении и списываются только после доставки "
        "результата; если задание не удалось, они возвращаются.",
    ),
    "lang.choose": ("🌐 Choose your language:", "🌐 Выберите язык:"),
    "lang.set": ("🌐 Language: English.", "🌐 Язык: русский."),
    "topup.choose": (
        "⭐ Buy credits with Telegram Stars. Your balance: {balance}.",
        "⭐ Купите кредиты за Telegram Stars. Ваш баланс: {balance}.",
    ),
    "invoice.title": ("{credits}", "{credits}"),
    "invoice.description": (
        "{credits} for AI generations in this bot.",
        "{credits} для генераций в этом боте.",
    ),
    # --- admin ---
    "admin.only": (
        "Sorry, this command is for administrators only.",
        "Извините, эта команда только для администраторов.",
    ),
    "grant.usage": (
        "Usage: /grant <user_id> <amount> (a whole number above zero).",
        "Формат: /grant <user_id> <сумма> (целое число больше нуля).",
    ),
    "grant.done": (
        "Granted {amount} to user {user}. Their balance: {balance}.",
        "Пользователю {user} начислено {amount}. Его баланс: {balance}.",
    ),
    "grant.failed": (
        "Could not grant: {error}.", "Не удалось начислить: {error}.",
    ),
    "stats.title": ("📊 Stats:", "📊 Статистика:"),
}
MENU_TEXTS |= FILE_TEXTS
MENU_TEXTS |= MODEL_TEXTS
MENU_TEXTS |= GROWTH_TEXTS

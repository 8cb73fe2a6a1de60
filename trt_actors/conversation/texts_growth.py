"""The texts of growth: referrals (/invite), broadcasts (/broadcast, /stop), /history's
re-sent results and the alerts pushed to admins, English and Russian; merged into
``texts_menu.MENU_TEXTS`` and looked up through ``texts.t``."""

from __future__ import annotations

GROWTH_TEXTS: dict[str, tuple[str, str]] = {
    # --- referrals -------------------------------------------------------------------------
    "invite": (
        "🤝 Invite friends with your link:\n{link}\n\n"
        "When a friend who joined through it gets their first paid result, you get {bonus}.\n"
        "Invited: {invited} · with a paid result: {paid}.",
        "🤝 Приглашайте друзей по своей ссылке:\n{link}\n\n"
        "Когда друг, пришедший по ней, получит первый платный результат, вы получите "
        "{bonus}.\nПриглашено: {invited} · с платным результатом: {paid}.",
    ),
    "invite.no_link": (
        "🤝 Your invite link is not ready yet (the bot's name is still unknown); try again "
        "in a minute.",
        "🤝 Ваша ссылка-приглашение ещё не готова (имя бота пока неизвестно); попробуйте "
        "через минуту.",
    ),
    "invite.off": (
        "🤝 Invitations earn nothing at the moment.",
        "🤝 Сейчас за приглашения ничего не начисляется.",
    ),
    "invite.bound": (
        "🤝 You joined through a friend's invitation.",
        "🤝 Вы пришли по приглашению друга.",
    ),
    "referral.paid": (
        "🎉 A friend you invited got their first paid result: +{bonus}. Balance: {balance}.",
        "🎉 Приглашённый вами друг получил первый платный результат: +{bonus}. "
        "Баланс: {balance}.",
    ),
    # --- broadcasts ------------------------------------------------------------------------
    "stop": (
        "🔕 You will get no more announcements. /start turns them back on.",
        "🔕 Больше никаких рассылок. /start снова их включит.",
    ),
    "bc.ask": (
        "📣 Send the announcement: a text, or a photo with a caption. /cancel to stop.",
        "📣 Пришлите объявление: текст или фото с подписью. /cancel — отменить.",
    ),
    "bc.wrong": (
        "⚠️ A broadcast is a text, or a photo with a caption. Send one of those, or /cancel.",
        "⚠️ Рассылка — это текст или фото с подписью. Пришлите одно из них или /cancel.",
    ),
    "bc.confirm": (
        "📣 Send this to every user who has not blocked the bot or opted out?\n\n{preview}",
        "📣 Отправить это всем, кто не заблокировал бота и не отписался?\n\n{preview}",
    ),
    "bc.photo": ("🖼 a photo", "🖼 фото"),
    "btn.bc_send": ("📣 Send", "📣 Отправить"),
    "btn.bc_cancel": ("✖️ Cancel", "✖️ Отмена"),
    "bc.cancelled": ("📣 Broadcast cancelled.", "📣 Рассылка отменена."),
    "bc.started": (
        "📣 Broadcast #{id} started: {total} recipient(s).",
        "📣 Рассылка #{id} начата: получателей {total}.",
    ),
    "bc.already": ("📣 This broadcast was already started.", "📣 Эта рассылка уже начата."),
    "bc.progress": (
        "📣 Broadcast #{id}: sent {sent}, blocked {blocked}, left {left} (of {total}).",
        "📣 Рассылка #{id}: отправлено {sent}, заблокировали {blocked}, осталось {left} "
        "(из {total}).",
    ),
    "bc.done": (
        "📣 Broadcast #{id} done: sent {sent}, blocked {blocked}, left {left} (of {total}).",
        "📣 Рассылка #{id} завершена: отправлено {sent}, заблокировали {blocked}, осталось "
        "{left} (из {total}).",
    ),
    # --- history ---------------------------------------------------------------------------
    "history.resent": (
        "🗂 #{job} · {title} · {when}",
        "🗂 #{job} · {title} · {when}",
    ),
    "history.again_below": (
        "Your latest results are below, each with 🔁 Again.",
        "Ниже — ваши последние результаты, у каждого кнопка 🔁 Ещё раз.",
    ),
    # --- alerts to admins ------------------------------------------------------------------
    "alert.raised": ("🚨 Alert: {message}", "🚨 Тревога: {message}"),
    "alert.cleared": ("✅ Cleared: {message}", "✅ Снято: {message}"),
}

"""Texts of issue 14's admin panel, promo codes, Stars support and per-user limits, in English
and Russian (plain data, looked up through ``texts.t``: ``key -> (english, russian)``)."""

from __future__ import annotations

ADMIN_TEXTS: dict[str, tuple[str, str]] = {
    # --- what users see ---
    "banned": ("⛔ This account is blocked.", "⛔ Этот аккаунт заблокирован."),
    "limit.in_flight": (
        "⏳ You already have {limit} jobs in progress. Wait for one to finish, then confirm "
        "again.",
        "⏳ У вас уже {limit} задания в работе. Дождитесь, пока одно закончится, и подтвердите "
        "снова.",
    ),
    "limit.per_minute": (
        "⏳ Too many orders in a minute (at most {limit}). Wait a moment, then confirm again.",
        "⏳ Слишком много заказов за минуту (не больше {limit}). Подождите немного и "
        "подтвердите снова.",
    ),
    "balance.topups": ("Top-ups:", "Пополнения:"),
    "balance.topup": ("• {when}: +{credits}", "• {when}: +{credits}"),
    "balance.topup_refunded": (
        "• {when}: +{credits} (refunded, {reversed} taken back)",
        "• {when}: +{credits} (возвращено, списано {reversed})",
    ),
    "promo.usage": ("Send /promo CODE to redeem a promo code.",
                    "Отправьте /promo КОД, чтобы активировать промокод."),
    "promo.ok": ("🎟 Code {code} redeemed: +{credits}. Balance: {balance}.",
                 "🎟 Код {code} активирован: +{credits}. Баланс: {balance}."),
    "promo.unknown": ("There is no such promo code. Check the spelling and try again.",
                      "Такого промокода нет. Проверьте написание и попробуйте снова."),
    "promo.expired": ("This promo code has expired.", "Срок действия этого промокода истёк."),
    "promo.used_up": ("This promo code has been used up.", "Этот промокод уже закончился."),
    "promo.already": ("You have already used this promo code.",
                      "Вы уже использовали этот промокод."),
    "promo.wait": ("Too many wrong codes. Try again in an hour.",
                   "Слишком много неверных кодов. Попробуйте снова через час."),
    "terms": (
        "Terms of use\n"
        "• Credits are bought with Telegram Stars and spent on generations at the price "
        "shown before you confirm.\n"
        "• A generation that fails gives its credits back automatically.\n"
        "• Credits of a payment you have not spent can be refunded in Stars: ask via "
        "/paysupport.\n"
        "• Results are made by third-party AI models; do not order illegal content. Abuse "
        "gets the account blocked.",
        "Условия использования\n"
        "• Кредиты покупаются за Telegram Stars и тратятся на генерации по цене, показанной "
        "до подтверждения.\n"
        "• Если генерация не удалась, кредиты возвращаются автоматически.\n"
        "• Неизрасходованные кредиты платежа можно вернуть в Stars: напишите через "
        "/paysupport.\n"
        "• Результаты создают сторонние модели ИИ; не заказывайте незаконное. За "
        "злоупотребления аккаунт блокируется.",
    ),
    "paysupport": (
        "💬 Payment support. Describe the problem after the command, e.g. "
        "/paysupport I paid 50 stars and got no credits. An admin will answer here.",
        "💬 Поддержка по платежам. Опишите проблему после команды, например: "
        "/paysupport оплатил 50 звёзд, кредиты не пришли. Администратор ответит здесь.",
    ),
    "paysupport.sent": ("✉️ Sent to support. An admin will answer here.",
                        "✉️ Отправлено в поддержку. Администратор ответит здесь."),
    "user.adjusted": ("Your balance changed by {amount}: {reason}. Balance: {balance}.",
                      "Ваш баланс изменён на {amount}: {reason}. Баланс: {balance}."),
    "user.job_refunded": ("↩️ Job #{job}: {credits} refunded.",
                          "↩️ Задание #{job}: возвращено {credits}."),
    "user.stars_refunded": (
        "⭐ Your payment was refunded in Stars; {reversed} unspent credits were taken off "
        "your balance.",
        "⭐ Ваш платёж возвращён в Stars; с баланса списано {reversed} неизрасходованных "
        "кредитов.",
    ),
    # --- what admins see ---
    "adm.title": ("🛠 Admin panel. Typed commands: /user <id|@name>, /adjust <id> <±credits> "
                  "<reason>, /ban <id>, /unban <id>, /refund <job id>, /refund topup <payment>, "
                  "/newpromo <CODE> <credits> <max uses> [days].",
                  "🛠 Панель администратора. Команды: /user <id|@имя>, /adjust <id> <±кредиты> "
                  "<причина>, /ban <id>, /unban <id>, /refund <номер задания>, /refund topup "
                  "<платёж>, /newpromo <КОД> <кредиты> <использований> [дней]."),
    "adm.btn.find": ("🔎 Find a user", "🔎 Найти пользователя"),
    "adm.btn.today": ("📊 Today", "📊 Сегодня"),
    "adm.btn.week": ("📅 Week", "📅 Неделя"),
    "adm.btn.promo": ("🎟 Promo codes", "🎟 Промокоды"),
    "adm.btn.audit": ("📜 Audit", "📜 Журнал"),
    "adm.btn.back": ("⬅️ Admin", "⬅️ Админка"),
    "adm.btn.refresh": ("🔄 Refresh", "🔄 Обновить"),
    "adm.btn.ban": ("🚫 Ban", "🚫 Заблокировать"),
    "adm.btn.unban": ("✅ Unban", "✅ Разблокировать"),
    "adm.btn.refund_job": ("↩️ Refund job #{job}", "↩️ Вернуть за #{job}"),
    "adm.btn.refund_topup": ("⭐ Refund payment {entry}", "⭐ Вернуть платёж {entry}"),
    "adm.btn.yes": ("✅ Yes, refund", "✅ Да, вернуть"),
    "adm.find": ("Send /user <id or @username>, or forward me any message of the user.",
                 "Отправьте /user <id или @имя> или перешлите мне любое сообщение "
                 "пользователя."),
    "adm.promo_help": ("Create a code: /newpromo <CODE> <credits> <max uses> [days valid]. "
                       "Each user may redeem a code once, with /promo CODE.",
                       "Создать код: /newpromo <КОД> <кредиты> <использований> [дней]. "
                       "Каждый пользователь может активировать код один раз: /promo КОД."),
    "adm.user.usage": ("Usage: /user <id|@username>", "Формат: /user <id|@имя>"),
    "adm.user.unknown": ("No such user: {query}", "Нет такого пользователя: {query}"),
    "adm.user.hidden": ("This user hides their account in forwards; ask for their id.",
                        "Пользователь скрывает аккаунт при пересылке; узнайте его id."),
    "adm.user.card": (
        "👤 User {user}{name} · {language} · since {since}{banned}\n"
        "Balance: {available} available, {held} held · bought {bought} · {jobs} jobs",
        "👤 Пользователь {user}{name} · {language} · с {since}{banned}\n"
        "Баланс: {available} доступно, {held} в резерве · куплено {bought} · заданий: {jobs}",
    ),
    "adm.user.banned": (" · 🚫 banned", " · 🚫 заблокирован"),
    "adm.user.jobs": ("Jobs:", "Задания:"),
    "adm.user.payments": ("Payments (⭐ top-ups):", "Платежи (⭐ пополнения):"),
    "adm.user.ledger": ("Ledger:", "Движения кредитов:"),
    "adm.usage.adjust": ("Usage: /adjust <id> <±credits> <reason>",
                         "Формат: /adjust <id> <±кредиты> <причина>"),
    "adm.adjusted": ("✅ User {user}: {amount} ({reason}). Balance: {balance}.",
                     "✅ Пользователь {user}: {amount} ({reason}). Баланс: {balance}."),
    "adm.adjust_short": ("User {user} has only {balance} available.",
                         "У пользователя {user} доступно только {balance}."),
    "adm.usage.ban": ("Usage: /ban <id> or /unban <id>", "Формат: /ban <id> или /unban <id>"),
    "adm.banned": ("🚫 User {user} is banned.", "🚫 Пользователь {user} заблокирован."),
    "adm.already_banned": ("User {user} was already banned.",
                           "Пользователь {user} уже был заблокирован."),
    "adm.unbanned": ("✅ User {user} is unbanned.", "✅ Пользователь {user} разблокирован."),
    "adm.not_banned": ("User {user} was not banned.", "Пользователь {user} не был заблокирован."),
    "adm.ban_admin": ("Admins cannot be banned.", "Администратора нельзя заблокировать."),
    "adm.usage.refund": ("Usage: /refund <job id> or /refund topup <payment id>",
                         "Формат: /refund <номер задания> или /refund topup <номер платежа>"),
    "adm.refund.confirm_job": ("Refund job #{job}: {credits} back to user {user}?",
                               "Вернуть за задание #{job}: {credits} пользователю {user}?"),
    "adm.refund.confirm_topup": (
        "Refund payment {entry} of user {user} in Stars and take back what is still unspent "
        "of its {credits}?",
        "Вернуть платёж {entry} пользователя {user} в Stars и списать неизрасходованное из "
        "его {credits}?",
    ),
    "adm.refund.refunded": ("↩️ Job #{job}: {credits} refunded to user {user}.",
                            "↩️ Задание #{job}: {credits} возвращено пользователю {user}."),
    "adm.refund.already": ("Job #{job} was already refunded.", "За задание #{job} уже вернули."),
    "adm.refund.released": ("Job #{job} failed; its credits went back when it failed.",
                            "Задание #{job} не удалось; кредиты вернулись тогда же."),
    "adm.refund.not_finished": ("Job #{job} has not finished yet.",
                                "Задание #{job} ещё не закончилось."),
    "adm.refund.free": ("Job #{job} was free: nothing to refund.",
                        "Задание #{job} было бесплатным: возвращать нечего."),
    "adm.refund.not_found": ("No such job or payment: {what}",
                             "Нет такого задания или платежа: {what}"),
    "adm.refund.stars": (
        "⭐ Payment {entry} of user {user}: refundStarPayment queued; {reversed} of {credits} "
        "credits were unspent and taken back.",
        "⭐ Платёж {entry} пользователя {user}: refundStarPayment отправлен; списано {reversed} "
        "из {credits} неизрасходованных кредитов.",
    ),
    "adm.refund.stars_already": (
        "Payment {entry} was already refunded ({reversed} credits taken back).",
        "Платёж {entry} уже возвращён (списано {reversed} кредитов).",
    ),
    "adm.usage.newpromo": ("Usage: /newpromo <CODE> <credits> <max uses> [days] (CODE: 3-32 "
                           "letters, digits, _ or -)",
                           "Формат: /newpromo <КОД> <кредиты> <использований> [дней] (КОД: "
                           "3-32 латинские буквы, цифры, _ или -)"),
    "adm.promo.created": ("🎟 Code {code}: {credits} each, {uses} uses, expires {expires}.",
                          "🎟 Код {code}: по {credits}, использований: {uses}, истекает {expires}."),
    "adm.promo.never": ("never", "никогда"),
    "adm.promo.exists": ("Code {code} exists already.", "Код {code} уже существует."),
    "adm.stats.today": ("📊 Today (since 00:00 UTC)", "📊 Сегодня (с 00:00 UTC)"),
    "adm.stats.week": ("📅 The last 7 days", "📅 Последние 7 дней"),
    "adm.stats.body": (
        "Users: {new} new, {active} active\n"
        "Jobs: {jobs}: {delivered} delivered, {failed} failed, {in_flight} in flight; "
        "failure rate {rate}\n"
        "Credits: {sold} sold, {spent} spent, {promo} from promo codes\n"
        "KIE credits used ≈ {kie}",
        "Пользователи: новых {new}, активных {active}\n"
        "Задания: {jobs}: доставлено {delivered}, не удалось {failed}, в работе {in_flight}; "
        "доля сбоев {rate}\n"
        "Кредиты: продано {sold}, потрачено {spent}, по промокодам {promo}\n"
        "Потрачено кредитов KIE ≈ {kie}",
    ),
    "adm.stats.models": ("By model:", "По моделям:"),
    "adm.audit.title": ("📜 Last admin actions:", "📜 Последние действия администраторов:"),
    "adm.audit.empty": ("No admin actions yet.", "Действий администраторов пока нет."),
    "adm.support": ("💬 Payment support from user {user}{name}: {text}",
                    "💬 Вопрос по платежу от пользователя {user}{name}: {text}"),
}

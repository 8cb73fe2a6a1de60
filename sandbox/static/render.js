// Rendering of one chat message as DOM nodes (never innerHTML: texts come from the bot).
// ``actions`` = {press(m, data), pay(m), send(text), toast(text), fileUrl(file_id)}.
let actions = null;

/** Set the callbacks buttons and /commands use (chat.js calls this once). */
export function bind(callbacks) {
  actions = callbacks;
}

function safeUrl(url) {
  if (typeof url !== "string") return null;
  try {
    const parsed = new URL(url, location.href);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch (_) {
    return null;
  }
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

// ----- text: line breaks kept (CSS pre-wrap), links and /commands clickable -----------------

const TOKEN_RE = /https?:\/\/[^\s]+|(?<=^|\s)\/[A-Za-z][A-Za-z0-9_]*(?:@\w+)?/g;

function renderText(text, commandsClickable) {
  const box = el("div", "text");
  let last = 0;
  for (const match of text.matchAll(TOKEN_RE)) {
    let token = match[0];
    const trail = token.startsWith("http") ? token.match(/[.,;:!?)\]]+$/) : null;
    if (trail) token = token.slice(0, -trail[0].length);
    box.append(text.slice(last, match.index));
    if (token.startsWith("/")) {
      const cmd = el("span", commandsClickable ? "cmd" : "", token);
      if (commandsClickable) cmd.addEventListener("click", () => actions.send(token));
      box.append(cmd);
    } else {
      const link = el("a", "", token);
      link.href = safeUrl(token) || "#";
      link.target = "_blank";
      link.rel = "noopener";
      box.append(link);
    }
    last = match.index + token.length;
  }
  box.append(text.slice(last));
  return box;
}

// ----- media, invoices, keyboards ---------------------------------------------------------

function renderMedia(media) {
  const box = el("div", "media");
  const url = safeUrl(media.url || actions.fileUrl(media.file_id));
  if (!url) {
    const size = media.upload_size ? ` (${Math.ceil(media.upload_size / 1024)} KB)` : "";
    box.append(el("div", "note", `📎 ${media.kind} uploaded by the bot${size}`));
    return box;
  }
  const kind = media.kind;
  if (kind === "photo") {
    const img = el("img");
    img.src = url;
    img.alt = "photo";
    img.loading = "lazy";
    box.append(img);
  } else if (kind === "video" || kind === "animation") {
    const video = el("video");
    video.controls = true;
    video.preload = "metadata";
    video.playsInline = true;
    if (kind === "animation") Object.assign(video, { autoplay: true, loop: true, muted: true });
    video.src = url;
    box.append(video);
  } else if (kind === "audio" || kind === "voice") {
    const audio = el("audio");
    audio.controls = true;
    audio.preload = "metadata";
    audio.src = url;
    box.append(audio);
  } else {
    const link = el("a", "doc");
    link.href = url;
    link.target = "_blank";
    link.rel = "noopener";
    const name = media.filename || decodeURIComponent(url.split("/").pop() || "file");
    link.append(el("span", "icon", "📄"), el("span", "", name));
    box.append(link);
  }
  return box;
}

export function stars(invoice) {
  return invoice.currency === "XTR" ? `${invoice.total_amount} ⭐`
    : `${(invoice.total_amount / 100).toFixed(2)} ${invoice.currency}`;
}

function renderInvoice(invoice) {
  const box = el("div", "invoice");
  box.append(el("div", "title", invoice.title), el("div", "desc", invoice.description),
    el("div", "total", stars(invoice)));
  return box;
}

function renderKeyboard(m) {
  let rows = m.message.reply_markup?.inline_keyboard || [];
  if (m.invoice && rows.length === 0) rows = [[{ text: `Pay ${stars(m.invoice)}`, pay: true }]];
  if (rows.length === 0) return null;
  const board = el("div", "keyboard");
  for (const row of rows) {
    const line = el("div", "krow");
    for (const button of row) line.append(renderButton(m, button));
    board.append(line);
  }
  return board;
}

function renderButton(m, button) {
  const url = safeUrl(button.url);
  if (url) {
    const link = el("a", "kbtn", `${button.text} ↗`);
    link.href = url;
    link.target = "_blank";
    link.rel = "noopener";
    return link;
  }
  const btn = el("button", button.pay ? "kbtn pay" : "kbtn", button.text);
  btn.type = "button";
  btn.title = button.text;
  if (button.pay) {
    btn.addEventListener("click", () => act(btn, () => actions.pay(m)));
  } else if (button.callback_data !== undefined) {
    btn.dataset.callback = button.callback_data;
    btn.addEventListener("click", () => act(btn, () => actions.press(m, button.callback_data)));
  } else {
    btn.disabled = true; // switch_inline_query, web_app, ...: not in the sandbox
  }
  return btn;
}

async function act(btn, action) {
  if (btn.classList.contains("busy")) return;
  btn.classList.add("busy");
  try {
    await action();
  } catch (error) {
    actions.toast(`⚠️ ${error.message}`);
  } finally {
    btn.classList.remove("busy");
  }
}

// ----- messages ---------------------------------------------------------------------------

function clock(unix) {
  return new Date(unix * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export function renderMessage(m) {
  const paid = m.message.successful_payment;
  if (paid) {
    const row = el("div", "service", `✅ You paid ${stars(paid)}`);
    row.dataset.messageId = m.message_id;
    return row;
  }
  const row = el("div", `row ${m.sender}`);
  row.dataset.messageId = m.message_id;
  const bubble = el("div", "bubble");
  if (m.media) bubble.append(renderMedia(m.media));
  if (m.invoice) bubble.append(renderInvoice(m.invoice));
  const text = m.message.text ?? m.message.caption;
  if (text) bubble.append(renderText(text, m.sender === "bot"));
  const edited = m.message.edit_date ? "edited " : "";
  bubble.append(el("span", "meta", `${edited}${clock(m.date)}`));
  row.append(bubble);
  if (m.sender === "bot") {
    const board = renderKeyboard(m);
    if (board) row.append(board);
  }
  return row;
}

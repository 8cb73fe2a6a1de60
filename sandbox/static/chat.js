// The sandbox chat page: talk to the bot through the Telegram emulator's user API.
// Plain ES2020, no build step. Query: ?user_id=1&lang=en&name=Test&bot=<username>
// &balance_url=<url with {user_id}> (fetched directly; needs CORS) — by default the balance
// comes from the emulator's /_user/balance proxy.
import { bind, renderMessage } from "./render.js";

const params = new URLSearchParams(location.search);
const USER_ID = Number.parseInt(params.get("user_id") || "1", 10);
const LANG = params.get("lang") || "en";
const NAME = params.get("name") || "Test";
const BOT = params.get("bot");
const DIRECT_BALANCE_URL = params.get("balance_url");
const POLL_MS = 700;
const LONG_POLL_S = 25;
const BALANCE_EVERY_MS = 3000;

const $ = (id) => document.getElementById(id);
const state = {
  version: "",
  rendered: new Map(), // message_id -> {key, el}
  fileUrls: new Map(), // file_id -> url, so a re-sent file_id still shows its media
  queries: new Set(), // pressed buttons whose answer (toast) we have not seen yet
  checkouts: new Set(), // pay attempts waiting for the bot's pre-checkout answer
  balanceKnown: false,
  balanceBusy: false,
  applied: false,
};

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function withBot(query) {
  return BOT ? `${query}&bot=${encodeURIComponent(BOT)}` : query;
}

async function userOp(op, body) {
  const payload = BOT ? { ...body, bot: BOT } : body;
  const response = await fetch(`/_user/${op}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(payload),
  });
  const answer = await response.json();
  if (!answer.ok) throw new Error(answer.error || `HTTP ${response.status}`);
  return answer.result;
}

async function userGet(op, query) {
  const response = await fetch(withBot(`/_user/${op}?${query}`), { cache: "no-store" });
  const answer = await response.json();
  if (!answer.ok) throw new Error(answer.error || `HTTP ${response.status}`);
  return answer.result;
}

let toastTimer = null;
function toast(text, long = false) {
  const el = $("toast");
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, long ? 6000 : 2500);
}

// ----- what the user does -------------------------------------------------------------------

async function press(m, data) {
  const answer = await userOp("press_button",
    { user_id: USER_ID, message_id: m.message_id, callback_data: data });
  state.queries.add(answer.id);
}

async function pay(m) {
  const answer = await userOp("pay_invoice",
    { user_id: USER_ID, invoice_message_id: m.message_id });
  state.checkouts.add(answer.id);
  toast("⭐ Paying…");
}

// Telegram shows a button's answer (answerCallbackQuery text) and a failed pre-checkout.
async function checkAnswers() {
  for (const id of [...state.queries]) {
    const query = await userGet("callback_query", `id=${encodeURIComponent(id)}`);
    if (!query.answered) continue;
    state.queries.delete(id);
    if (query.answer_text) toast(query.answer_text, query.show_alert);
  }
  for (const id of [...state.checkouts]) {
    const query = await userGet("pre_checkout_query", `id=${encodeURIComponent(id)}`);
    if (!query.answered) continue;
    state.checkouts.delete(id);
    toast(query.ok ? "✅ Payment accepted" : `❌ ${query.error_message}`, !query.ok);
  }
}

// ----- messages -----------------------------------------------------------------------------

function nearBottom() {
  const chat = $("chat");
  return chat.scrollHeight - chat.scrollTop - chat.clientHeight < 120;
}

function apply(result) {
  if (result.bot) {
    $("bot-name").textContent = result.bot.first_name;
    $("bot-avatar").textContent = (result.bot.first_name || "B").slice(0, 1);
    $("conn-state").textContent = `@${result.bot.username} · you are user ${USER_ID}`;
  }
  if (result.balance !== undefined) state.balanceKnown = result.balance;
  state.version = result.version ?? "";
  const list = $("messages");
  const stick = nearBottom();
  const seen = new Set();
  let previous = null;
  let changed = false;
  for (const m of result.messages) {
    if (m.media?.url && m.media.file_id) state.fileUrls.set(m.media.file_id, m.media.url);
    if (m.deleted) continue;
    seen.add(m.message_id);
    const key = JSON.stringify([m.message, m.media, m.invoice]);
    const old = state.rendered.get(m.message_id);
    if (old && old.key === key) {
      previous = old.el;
      continue;
    }
    const node = renderMessage(m);
    if (old) {
      old.el.replaceWith(node); // an edit: same place, new content
      node.classList.add("flash");
    } else if (previous) {
      previous.after(node);
    } else {
      list.prepend(node);
    }
    state.rendered.set(m.message_id, { key, el: node });
    previous = node;
    changed = true;
  }
  for (const [id, entry] of state.rendered) {
    if (!seen.has(id)) {
      entry.el.remove();
      state.rendered.delete(id);
      changed = true;
    }
  }
  $("empty-hint").hidden = state.rendered.size > 0;
  if (changed && stick) $("chat").scrollTop = $("chat").scrollHeight;
  if (changed || !state.applied) refreshBalance();
  state.applied = true;
  if (state.queries.size || state.checkouts.size) checkAnswers().catch(() => {});
}

function setConnected(ok) {
  const conn = $("conn-state");
  conn.classList.toggle("lost", !ok);
  if (!ok) conn.textContent = "connection lost, retrying…";
}

async function pollLoop() {
  let longPoll = true;
  for (;;) {
    try {
      if (longPoll) {
        const since = encodeURIComponent(state.version);
        const response = await fetch(withBot(
          `/_user/wait_messages?chat_id=${USER_ID}&since=${since}&timeout=${LONG_POLL_S}`),
          { cache: "no-store" });
        if (response.status === 404) {
          longPoll = false; // an emulator without the long poll: plain polling
          continue;
        }
        const answer = await response.json();
        if (!answer.ok) throw new Error(answer.error);
        apply(answer.result);
      } else {
        const messages = await userGet("messages", `chat_id=${USER_ID}&include_user=1`);
        apply({ messages, version: "" });
        await delay(POLL_MS);
      }
    } catch (_) {
      setConnected(false);
      await delay(POLL_MS * 2);
    }
  }
}

// ----- balance ------------------------------------------------------------------------------

async function refreshBalance() {
  const value = $("balance-value");
  if (!state.balanceKnown && !DIRECT_BALANCE_URL) {
    value.textContent = "n/a";
    $("balance").title = "the emulator was started without balance_url";
    return;
  }
  if (state.balanceBusy) return;
  state.balanceBusy = true;
  try {
    let data;
    if (DIRECT_BALANCE_URL) {
      const response = await fetch(DIRECT_BALANCE_URL.replace("{user_id}", USER_ID));
      data = await response.json();
    } else {
      data = await userGet("balance", `user_id=${USER_ID}`);
    }
    const known = data.known !== false;
    value.textContent = known ? `${data.available} credits` : "—";
    value.dataset.available = known ? String(data.available) : "";
    $("balance-held").textContent = data.held ? `+${data.held} held` : "";
    $("balance").title = known ? "your credits (from the node)"
      : "the bot does not know you yet: send /start";
  } catch (error) {
    value.textContent = "?";
    $("balance").title = `balance unavailable: ${error.message}`;
  } finally {
    state.balanceBusy = false;
  }
}

// ----- composing ----------------------------------------------------------------------------

async function sendText(text) {
  const trimmed = text.trim();
  if (!trimmed) return;
  $("send").disabled = true;
  try {
    await userOp("send_text",
      { user_id: USER_ID, text: trimmed, language_code: LANG, first_name: NAME });
    return true;
  } catch (error) {
    toast(`⚠️ ${error.message}`);
    return false;
  } finally {
    $("send").disabled = false;
  }
}

// A picked image goes to the emulator as a photo the user sends (the textarea = caption).
const MAX_PHOTO_BYTES = 10 * 1024 * 1024; // Telegram's limit for a photo

function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error || new Error("cannot read the file"));
    reader.readAsDataURL(file);
  });
}

async function sendPhoto(file, caption) {
  if (!file.type.startsWith("image/")) throw new Error("pick an image file");
  if (file.size > MAX_PHOTO_BYTES) throw new Error("a photo may be at most 10 MB");
  const body = {
    user_id: USER_ID, kind: "photo", content_b64: await readAsDataUrl(file),
    file_name: file.name, mime_type: file.type, language_code: LANG, first_name: NAME,
  };
  if (caption) body.caption = caption;
  return userOp("send_media", body);
}

function setUpAttach(input, resize) {
  const picker = $("attach-input");
  $("attach").addEventListener("click", () => picker.click());
  picker.addEventListener("change", async () => {
    const file = picker.files?.[0];
    picker.value = "";
    if (!file) return;
    $("attach").disabled = true;
    try {
      await sendPhoto(file, input.value.trim());
      input.value = "";
      resize();
    } catch (error) {
      toast(`⚠️ ${error.message}`);
    } finally {
      $("attach").disabled = false;
    }
  });
}

function setUp() {
  bind({
    press, pay, send: sendText, toast,
    fileUrl: (fileId) => state.fileUrls.get(fileId),
  });
  const input = $("input");
  const resize = () => {
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight + 2, 140)}px`;
    input.style.overflowY = input.scrollHeight > 140 ? "auto" : "hidden";
  };
  $("compose").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value;
    if (await sendText(text)) {
      input.value = "";
      resize();
    }
    input.focus();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("compose").requestSubmit();
    }
  });
  input.addEventListener("input", resize);
  setUpAttach(input, resize);
  for (const chip of document.querySelectorAll("[data-send]")) {
    chip.addEventListener("click", () => sendText(chip.dataset.send));
  }
  input.focus();
  setInterval(refreshBalance, BALANCE_EVERY_MS);
  pollLoop();
}

setUp();

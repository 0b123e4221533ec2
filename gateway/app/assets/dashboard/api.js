// switchboard dashboard, admin API panels: the connected clients of every protocol (with a
// disconnect button) and the retained topics, from the admin HTTP API when the gateway serves it
// on the front (`http.api = true`). Independent of the Engine.IO connection of app.js.
// No build step and no dependency: the gateway embeds this file and serves it as it is.

const config = JSON.parse(document.getElementById("sb-config").textContent);
const API = config.api || "/api/v1";

const TOKEN_KEY = "switchboard.dashboard.admin-token";
const CLIENTS_EVERY_MS = 3000; // refresh of the clients table
const TOPICS_EVERY_MS = 10000; // refresh of the retained topics
const OFF_EVERY_MS = 30000; // probe again while the API is not on this front
const PAGE = 500; // items asked per page
const MAX_CLIENT_PAGES = 10; // at most 5 000 clients listed
const MAX_TOPIC_PAGES = 4; // at most 2 000 retained topics listed
const CONFIRM_MS = 5000; // how long a disconnect button waits for its confirmation

const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
};
const number = new Intl.NumberFormat();

function ago(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return s + " s ago";
  if (s < 3600) return Math.floor(s / 60) + " min ago";
  if (s < 86400) return Math.floor(s / 3600) + " h ago";
  return Math.floor(s / 86400) + " d ago";
}

function clip(s, n = 200) {
  return s.length > n ? s.slice(0, n) + "…" : s;
}

// ---- calls and the token --------------------------------------------------------------------

/** Why the API cannot be used now: "off" (not on this front), "auth" (token needed), or null. */
let blocked = null;

function token() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  } catch (_) {
    return "";
  }
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** One API call: the JSON body, or an ApiError (status 0: unreachable; code "off": not the API). */
async function call(method, path) {
  const headers = { accept: "application/json" };
  const t = token();
  if (t) headers.authorization = "Bearer " + t;
  let resp;
  try {
    resp = await fetch(API + path, { method, headers, cache: "no-store", credentials: "omit" });
  } catch (e) {
    throw new ApiError(0, "unreachable", "the gateway did not answer: " + e.message);
  }
  const json = (resp.headers.get("content-type") || "").startsWith("application/json");
  const body = json ? await resp.json().catch(() => null) : null;
  if (resp.ok) return body;
  if (resp.status === 401 && body && body.error) throw new ApiError(401, "unauthorized", body.error.message);
  if (body && body.error) throw new ApiError(resp.status, body.error.code, body.error.message);
  // The front's 404 (or a proxied answer): the API is not mounted here.
  throw new ApiError(resp.status, "off", `${API}/ answered ${resp.status}`);
}

/** Every item of a paginated listing, following `next` for at most `pages` pages. */
async function listAll(path, pages) {
  const items = [];
  let cursor = null;
  for (let i = 0; i < pages; i++) {
    const sep = path.includes("?") ? "&" : "?";
    const page = await call("GET", path + sep + `limit=${PAGE}` + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
    if (!page || !Array.isArray(page.items)) throw new ApiError(200, "off", `${API}${path} is not switchboard's admin API`);
    items.push(...page.items);
    cursor = page.next;
    if (!cursor) return { items, more: false };
  }
  return { items, more: true };
}

function setNotes(html) {
  for (const id of ["clients-note", "retained-note"]) {
    const note = $(id);
    note.replaceChildren(...html());
    note.hidden = false;
  }
}

function clearNotes() {
  $("clients-note").hidden = true;
  $("retained-note").hidden = true;
}

function code(text) {
  return el("code", "", text);
}

/** What a failed call means for the panels. */
function failed(e) {
  if (e.code === "off" || e.status === 404) {
    blocked = "off";
    $("api-token-form").hidden = true;
    setNotes(() => [
      "The admin API is not served on this front. Set ",
      code("http.api = true"),
      " and ",
      code("admin.token"),
      " in the gateway's configuration (",
      code("[http]"),
      " and ",
      code("[admin]"),
      ") to see and disconnect clients here.",
    ]);
    $("clients").replaceChildren();
    $("retained").replaceChildren();
    return;
  }
  if (e.status === 401) {
    // A call that was under way with the refused token: the first answer said it all.
    if (blocked === "auth") return;
    const had = token() !== "";
    if (had) sessionStorage.removeItem(TOKEN_KEY);
    blocked = "auth";
    setNotes(() => [
      had ? "The admin token was refused: " : "The admin API needs its token (",
      ...(had ? [e.message] : [code("admin.token"), ")."]),
    ]);
    $("retained-note").replaceChildren("Waiting for the admin token (above).");
    $("api-token-form").hidden = false;
    $("clients").replaceChildren();
    $("retained").replaceChildren();
    return;
  }
  setNotes(() => [`The admin API failed: ${e.message}${e.code ? " (" + e.code + ")" : ""}`]);
}

$("api-token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const t = $("api-token").value.trim();
  if (!t) return;
  sessionStorage.setItem(TOKEN_KEY, t);
  $("api-token").value = "";
  $("api-token-form").hidden = true;
  blocked = null;
  clearNotes();
  refreshAll();
});

// ---- connected clients ----------------------------------------------------------------------

const PROTOCOL_NAMES = { mqtt: "MQTT", engineio: "Engine.IO", socketio: "Socket.IO", ipc: "IPC" };
const rows = new Map(); // client id -> row

function clientRow(c) {
  const tr = el("tr");
  tr.dataset.client = c.id;
  for (const cls of ["id", "proto", "transport", "user", "remote", "since", "subs n", "queue n", "drops n", "act"]) {
    tr.append(el("td", cls));
  }
  const button = el("button", "ghost danger small", "Disconnect");
  button.type = "button";
  button.dataset.kick = c.id;
  button.addEventListener("click", () => kick(c.id, button));
  tr.lastElementChild.append(button);
  return tr;
}

function fillClient(tr, c) {
  const [id, protocol, transport, user, remote, since, subs, queue, drops] = tr.children;
  id.textContent = c.client_id ?? c.id;
  id.title = c.id;
  protocol.textContent = PROTOCOL_NAMES[c.protocol] || c.protocol;
  protocol.dataset.protocol = c.protocol;
  transport.textContent = c.transport ?? "";
  user.textContent = c.user ?? "";
  user.classList.toggle("muted", !c.user);
  if (!c.user) user.textContent = "anonymous";
  remote.textContent = c.remote ?? "";
  since.textContent = ago(c.connected_at_ms);
  since.title = c.connected_at;
  since.dataset.at = c.connected_at_ms;
  subs.textContent = number.format(c.subscriptions);
  queue.textContent = number.format(c.queue_depth);
  drops.textContent = number.format(c.drops);
  drops.classList.toggle("bad", c.drops > 0);
  tr.classList.toggle("kicked", !!c.kicked);
}

let clientsBusy = false;
async function refreshClients() {
  if (clientsBusy || blocked === "auth") return;
  clientsBusy = true;
  try {
    const { items, more } = await listAll("/clients", MAX_CLIENT_PAGES);
    if (blocked === "off") clearNotes();
    blocked = null;
    $("clients-note").hidden = true;
    const body = $("clients");
    const seen = new Set();
    let previous = null;
    for (const c of items) {
      seen.add(c.id);
      let tr = rows.get(c.id);
      if (!tr) {
        tr = clientRow(c);
        rows.set(c.id, tr);
      }
      fillClient(tr, c);
      // Rows follow the API's order (by id); move a row only when it is out of place.
      const want = previous ? previous.nextSibling : body.firstChild;
      if (want !== tr) body.insertBefore(tr, want);
      previous = tr;
    }
    for (const [id, tr] of rows) {
      if (!seen.has(id)) {
        tr.remove();
        rows.delete(id);
      }
    }
    $("clients-count").textContent = number.format(items.length) + (more ? "+" : "");
    $("clients-empty").hidden = items.length > 0;
    $("clients-more").hidden = !more;
    $("clients-at").textContent = "updated " + new Date().toLocaleTimeString([], { hour12: false });
  } catch (e) {
    failed(e);
  } finally {
    clientsBusy = false;
  }
}

async function kick(id, button) {
  // First click asks; a second one within CONFIRM_MS disconnects.
  if (button.dataset.confirm !== "1") {
    button.dataset.confirm = "1";
    button.textContent = "Confirm disconnect";
    button.classList.add("armed");
    button.title = `Disconnect ${id} with its protocol's goodbye`;
    setTimeout(() => {
      if (button.isConnected && button.dataset.confirm === "1") disarm(button);
    }, CONFIRM_MS);
    return;
  }
  disarm(button);
  button.disabled = true;
  button.textContent = "Disconnecting…";
  try {
    await call("DELETE", "/clients/" + id.split("/").map(encodeURIComponent).join("/"));
    rows.get(id)?.classList.add("kicked");
    status(`Disconnected ${id}.`, "ok");
  } catch (e) {
    if (e.status === 404) status(`${id} had already left.`, "");
    else {
      status(`Could not disconnect ${id}: ${e.message}`, "error");
      if (e.status === 401) failed(e);
    }
  } finally {
    button.disabled = false;
    button.textContent = "Disconnect";
  }
  setTimeout(refreshClients, 300);
}

function disarm(button) {
  delete button.dataset.confirm;
  button.classList.remove("armed");
  button.textContent = "Disconnect";
  button.title = "";
}

function status(text, kind) {
  const s = $("clients-status");
  s.className = "result" + (kind ? " " + kind : "");
  s.textContent = text;
}

// ---- retained topics --------------------------------------------------------------------------

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Bytes that are printable UTF-8 (as MQTT payloads usually are) read as their text, else null. */
function readable(bytes) {
  try {
    const s = utf8.decode(bytes);
    return /[\u0000-\u0008\u000e-\u001f\u007f]/.test(s) ? null : s;
  } catch (_) {
    return null;
  }
}

function payloadOf(m) {
  if ("json" in m) return { kind: "json", text: JSON.stringify(m.json) };
  if ("text" in m) return { kind: "text", text: m.text };
  let bytes;
  try {
    bytes = Uint8Array.from(atob(m.base64 || ""), (c) => c.charCodeAt(0));
  } catch (_) {
    bytes = new Uint8Array();
  }
  const text = bytes.length > 0 ? readable(bytes) : null;
  if (text !== null) return { kind: "bytes", text };
  const hex = [...bytes.subarray(0, 24)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
  return { kind: "bytes", text: `${hex}${bytes.length > 24 ? " …" : ""}  (${bytes.length} B)` };
}

let topicsBusy = false;
async function refreshTopics() {
  if (topicsBusy || blocked === "auth") return;
  topicsBusy = true;
  try {
    const filter = $("retained-filter").value.trim() || "#";
    const { items, more } = await listAll("/topics?filter=" + encodeURIComponent(filter), MAX_TOPIC_PAGES);
    blocked = null;
    $("retained-note").hidden = true;
    const body = $("retained");
    body.replaceChildren(
      ...items.map((m) => {
        const tr = el("tr");
        tr.dataset.retained = m.topic;
        const p = payloadOf(m);
        const value = el("td", "value");
        value.append(el("span", "tag " + p.kind, p.kind), document.createTextNode(clip(p.text)));
        value.title = clip(p.text, 2000);
        const origin = m.origin ? `${m.origin.protocol}:${m.origin.client}` + (m.origin.node ? ` @${m.origin.node}` : "") : "";
        const at = Date.parse(m.received_at);
        const when = el("td", "when", Number.isFinite(at) ? ago(at) : "");
        if (Number.isFinite(at)) when.dataset.at = at;
        when.title = m.received_at || "";
        tr.append(el("td", "topic", m.topic), value, el("td", "n", m.qos), el("td", "origin", origin), when);
        return tr;
      }),
    );
    $("retained-count").textContent = number.format(items.length) + (more ? "+" : "");
    $("retained-empty").hidden = items.length > 0;
  } catch (e) {
    failed(e);
  } finally {
    topicsBusy = false;
  }
}

$("retained-form").addEventListener("submit", (e) => {
  e.preventDefault();
  refreshTopics();
});

// ---- timers -----------------------------------------------------------------------------------

function every(ms, fn) {
  const tick = async () => {
    if (!document.hidden && blocked !== "auth") {
      if (blocked !== "off" || Date.now() - lastProbe >= OFF_EVERY_MS) {
        lastProbe = Date.now();
        await fn();
      }
    }
    setTimeout(tick, ms);
  };
  setTimeout(tick, ms);
}
let lastProbe = 0;

setInterval(() => {
  for (const cell of document.querySelectorAll("#clients td.since[data-at], #retained td.when[data-at]")) {
    cell.textContent = ago(Number(cell.dataset.at));
  }
}, 5000);

/** The clients, then (when the API let the page in) the retained topics. */
async function refreshAll() {
  await refreshClients();
  if (!blocked) await refreshTopics();
}

await refreshAll();
every(CLIENTS_EVERY_MS, refreshClients);
every(TOPICS_EVERY_MS, refreshTopics);

// switchboard dashboard: live topics, a message log, a publish form and the gateway's $SYS
// statistics, over the gateway's own client (/switchboard.js, Engine.IO control mode).
// No build step and no dependency: the gateway embeds this file and serves it as it is.

const config = JSON.parse(document.getElementById("sb-config").textContent);
const { connect, matches } = await import(config.client);

const MAX_TOPICS = 5000; // rows kept in the topic table (least recently updated go first)
const MAX_LOG = 400; // entries kept in the live log
const CREDS_KEY = "switchboard.dashboard.credentials";

const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};

// ---- rendering of values -----------------------------------------------------------------

/** The kind of a delivered value: "json", "text" or "bytes". */
function kindOf(data, meta) {
  if (meta.binary || data instanceof Uint8Array) return "bytes";
  if (meta.text) return "text";
  return typeof data === "string" ? "text" : "json";
}

function hex(bytes, max = 24) {
  const parts = [];
  for (let i = 0; i < Math.min(bytes.length, max); i++) parts.push(bytes[i].toString(16).padStart(2, "0"));
  return parts.join(" ") + (bytes.length > max ? " …" : "");
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Bytes that are printable UTF-8 (as MQTT 3.1.1 payloads usually are) read as their text. */
function readable(bytes) {
  try {
    const s = utf8.decode(bytes);
    return /[\u0000-\u0008\u000e-\u001f\u007f]/.test(s) ? null : s;
  } catch (_) {
    return null;
  }
}

function summary(data, kind) {
  if (kind === "bytes") {
    const text = readable(data);
    return text !== null && data.length > 0 ? text : hex(data) + `  (${data.length} B)`;
  }
  if (kind === "text") return String(data);
  const s = JSON.stringify(data);
  return s === undefined ? "null" : s;
}

function clip(s, n = 240) {
  return s.length > n ? s.slice(0, n) + "…" : s;
}

function ago(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return s + " s ago";
  if (s < 3600) return Math.floor(s / 60) + " min ago";
  return Math.floor(s / 3600) + " h ago";
}

function clock(ms) {
  const d = new Date(ms);
  return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

function duration(seconds) {
  const s = Number(seconds);
  if (!Number.isFinite(s)) return "–";
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${Math.floor(s % 60)}s`;
  return `${s}s`;
}

const number = new Intl.NumberFormat();
const fmt = (v) => (v === undefined || v === "" || Number.isNaN(Number(v)) ? v ?? "–" : number.format(Number(v)));

function bytesText(v) {
  const n = Number(v);
  if (!Number.isFinite(n)) return "";
  if (n < 1024) return n + " B";
  if (n < 1048576) return (n / 1024).toFixed(1) + " KiB";
  return (n / 1048576).toFixed(1) + " MiB";
}

// ---- the topic table ------------------------------------------------------------------------

const topics = new Map(); // topic → { data, kind, retain, at, row }
const dirty = new Set();
let filter = "#";
let frame = 0;

function schedule() {
  if (!frame) frame = requestAnimationFrame(render);
}

function remember(topic, data, meta) {
  let t = topics.get(topic);
  if (!t) {
    if (topics.size >= MAX_TOPICS) {
      let oldest = null;
      for (const [k, v] of topics) if (!oldest || v.at < oldest[1].at) oldest = [k, v];
      if (oldest) {
        oldest[1].row?.remove();
        topics.delete(oldest[0]);
      }
    }
    t = { row: null };
    topics.set(topic, t);
  }
  t.kind = kindOf(data, meta);
  t.data = data;
  t.retain = !!meta.retain;
  t.at = Date.now();
  dirty.add(topic);
  schedule();
}

function rowFor(topic, t) {
  const tr = el("tr");
  tr.dataset.topic = topic;
  tr.append(el("td", "topic", topic), el("td", "value"), el("td", "when"));
  tr.title = "Click to publish on " + topic;
  tr.addEventListener("click", () => {
    $("pub-topic").value = topic;
    const cur = topics.get(topic);
    if (cur && cur.kind !== "bytes") {
      $("pub-format").value = cur.kind;
      $("pub-payload").value = cur.kind === "json" ? JSON.stringify(cur.data) : cur.data;
    }
    $("pub-payload").focus();
  });
  t.row = tr;
  return tr;
}

function fillRow(topic, t) {
  const [, value, when] = t.row.children;
  value.replaceChildren();
  value.append(el("span", "tag " + t.kind, t.kind));
  if (t.retain) value.append(el("span", "tag retained", "retained"));
  value.append(document.createTextNode(clip(summary(t.data, t.kind))));
  value.title = clip(summary(t.data, t.kind), 2000);
  when.textContent = ago(t.at);
  when.dataset.at = t.at;
}

function render() {
  frame = 0;
  const body = $("topics");
  for (const topic of dirty) {
    const t = topics.get(topic);
    if (!t) continue;
    const fresh = !t.row;
    if (fresh) rowFor(topic, t);
    fillRow(topic, t);
    if (fresh) insertSorted(body, t.row, topic);
    t.row.classList.remove("flash");
    void t.row.offsetWidth; // restart the highlight
    t.row.classList.add("flash");
  }
  dirty.clear();
  const shown = body.children.length;
  $("topic-count").textContent = number.format(shown);
  $("topics-empty").hidden = shown > 0;
  flushLog();
}

function insertSorted(body, row, topic) {
  // Rows stay in topic order (binary search over the existing rows).
  const rows = body.children;
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (rows[mid].dataset.topic < topic) lo = mid + 1;
    else hi = mid;
  }
  body.insertBefore(row, rows[lo] || null);
}

setInterval(() => {
  for (const cell of document.querySelectorAll("td.when[data-at]")) cell.textContent = ago(Number(cell.dataset.at));
}, 5000);

// ---- the live log ---------------------------------------------------------------------------

const pendingLog = [];
let paused = false;
let seen = 0;
let lastRate = { at: Date.now(), seen: 0 };

function logMessage(topic, data, meta) {
  seen++;
  if (paused) return;
  pendingLog.push({ at: Date.now(), topic, kind: kindOf(data, meta), data, retain: !!meta.retain });
  if (pendingLog.length > MAX_LOG) pendingLog.splice(0, pendingLog.length - MAX_LOG);
  schedule();
}

function flushLog() {
  if (pendingLog.length === 0) return;
  const list = $("log");
  const items = pendingLog.splice(0).map((m) => {
    const li = el("li");
    const v = el("span", "v");
    v.append(el("span", "tag " + m.kind, m.kind));
    if (m.retain) v.append(el("span", "tag retained", "retained"));
    v.append(document.createTextNode(clip(summary(m.data, m.kind), 400)));
    li.append(el("span", "t", clock(m.at)), el("span", "topic", m.topic), v);
    li.title = m.topic;
    return li;
  });
  list.prepend(...items.reverse());
  while (list.children.length > MAX_LOG) list.lastElementChild.remove();
}

setInterval(() => {
  const now = Date.now();
  const rate = ((seen - lastRate.seen) * 1000) / Math.max(1, now - lastRate.at);
  lastRate = { at: now, seen };
  $("log-rate").textContent = (rate >= 10 ? Math.round(rate) : rate.toFixed(1)) + " msg/s";
}, 1000);

$("log-pause").addEventListener("click", (e) => {
  paused = !paused;
  e.currentTarget.setAttribute("aria-pressed", String(paused));
  e.currentTarget.textContent = paused ? "Resume" : "Pause";
});
$("log-clear").addEventListener("click", () => $("log").replaceChildren());

// ---- $SYS -------------------------------------------------------------------------------

const sysSwitchboard = new Map();
const sysBroker = new Map();
let sysFrame = 0;

function onSys(topic, data) {
  const value = data instanceof Uint8Array ? new TextDecoder().decode(data) : typeof data === "string" ? data : JSON.stringify(data);
  if (topic.startsWith("$SYS/switchboard/")) sysSwitchboard.set(topic.slice(17), value);
  else sysBroker.set(topic.slice(12), value);
  if (!sysFrame) sysFrame = requestAnimationFrame(renderSys);
}

const PROTOCOL_ORDER = ["mqtt", "engineio", "socketio", "ipc", "http", "admin"];
const PROTOCOL_NAMES = { mqtt: "MQTT", engineio: "Engine.IO", socketio: "Socket.IO", ipc: "IPC", http: "HTTP", admin: "admin" };

function renderSys() {
  sysFrame = 0;
  const s = sysSwitchboard;
  if (s.has("version")) $("version").textContent = "v" + s.get("version");
  // The admin endpoint's own connections are not clients: left out (the total has them).
  const conns = [...s.entries()].filter(
    ([k]) => k.startsWith("connections/") && k !== "connections/total" && k !== "connections/admin",
  );
  if (conns.length > 0) {
    const box = $("connections");
    box.replaceChildren();
    const rank = (k) => {
      const i = PROTOCOL_ORDER.indexOf(k.slice(12));
      return i < 0 ? PROTOCOL_ORDER.length : i;
    };
    conns.sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b));
    for (const [k, v] of conns) {
      const name = k.slice(12);
      const p = el("div", "protocol");
      p.dataset.protocol = name;
      p.append(el("span", "n", fmt(v)), el("span", "label", PROTOCOL_NAMES[name] || name));
      box.append(p);
    }
    const total = el("div", "protocol total");
    total.append(el("span", "n", fmt(s.get("connections/total"))), el("span", "label", "total"));
    box.append(total);
  }
  $("stat-published").textContent = fmt(s.get("messages/published"));
  $("stat-retained").textContent = fmt(s.get("retained/count"));
  $("stat-retained-bytes").textContent = bytesText(s.get("retained/bytes"));
  $("stat-subscriptions").textContent = fmt(s.get("subscriptions"));
  $("stat-subscribers").textContent = s.has("subscribers") ? fmt(s.get("subscribers")) + " subscribers" : "";
  $("stat-uptime").textContent = duration(s.get("uptime_seconds"));
  $("stat-node").textContent = s.has("node") ? "node " + s.get("node") : "";
  if (sysBroker.size > 0) {
    const dl = $("sys");
    dl.replaceChildren();
    for (const [k, v] of [...sysBroker.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      const row = el("div");
      row.append(el("dt", "", k), el("dd", "", clip(v, 60)));
      row.title = "$SYS/broker/" + k;
      dl.append(row);
    }
  }
}

// Published per second, from consecutive $SYS/switchboard/messages/published values.
let lastPublished = null;
function trackRate(value) {
  const now = Date.now();
  const n = Number(value);
  if (lastPublished && now > lastPublished.at && n >= lastPublished.n) {
    const rate = ((n - lastPublished.n) * 1000) / (now - lastPublished.at);
    $("stat-rate").textContent = (rate >= 10 ? number.format(Math.round(rate)) : rate.toFixed(1)) + " msg/s";
  }
  lastPublished = { at: now, n };
}

// ---- connection, credentials and subscriptions ------------------------------------------

function setState(state, text) {
  const pill = $("conn");
  pill.dataset.state = state;
  pill.textContent = text;
}

function storedCredentials() {
  const params = new URLSearchParams(location.search);
  if (params.get("token")) return { token: params.get("token") };
  try {
    return JSON.parse(sessionStorage.getItem(CREDS_KEY) || "null");
  } catch (_) {
    return null;
  }
}

const urlToken = new URLSearchParams(location.search).get("token");
const sb = connect("", { path: config.path, ...(urlToken ? { token: urlToken } : {}) });
sb.on("open", ({ transport }) => setState("open", "live · " + transport));
sb.on("close", () => setState("closed", "disconnected"));
sb.on("reconnecting", ({ delay }) => setState("reconnecting", `reconnecting in ${(delay / 1000).toFixed(1)} s`));
sb.on("error", (e) => {
  if (e && e.code === "unauthorized") askCredentials("Your session was refused: sign in again.");
});

let mainOff = null;

function onMessage(data, meta) {
  remember(meta.topic, data, meta);
  logMessage(meta.topic, data, meta);
}

async function watch(newFilter) {
  const note = $("filter-note");
  note.hidden = true;
  if (mainOff) {
    mainOff();
    mainOff = null;
  }
  filter = newFilter;
  $("empty-filter").textContent = newFilter;
  // Topics outside the new filter leave the table.
  for (const [topic, t] of topics) {
    if (!matches(newFilter, topic)) {
      t.row?.remove();
      topics.delete(topic);
    }
  }
  $("topic-count").textContent = number.format($("topics").children.length);
  $("topics-empty").hidden = $("topics").children.length > 0;
  try {
    mainOff = await sb.subscribe(newFilter, onMessage);
  } catch (e) {
    if (e.code === "unauthorized") return askCredentials();
    note.textContent =
      e.code === "forbidden" ? `The ACL does not let you watch ${newFilter}.` : `Cannot watch ${newFilter}: ${e.message} (${e.code})`;
    note.hidden = false;
  }
}

async function watchSys() {
  for (const f of ["$SYS/switchboard/#", "$SYS/broker/#"]) {
    try {
      await sb.subscribe(f, (data, meta) => {
        onSys(meta.topic, data);
        if (meta.topic === "$SYS/switchboard/messages/published") trackRate(sysSwitchboard.get("messages/published"));
      });
    } catch (e) {
      if (f.startsWith("$SYS/broker")) {
        $("sys").replaceChildren(el("dt", "muted", e.code === "forbidden" ? "no access to $SYS/broker" : "unavailable: " + e.code));
      } else {
        $("connections").replaceChildren(el("span", "muted", e.code === "forbidden" ? "no access to $SYS" : "unavailable: " + e.code));
      }
    }
  }
}

async function signIn(creds) {
  if (creds.token) await sb.auth(creds.token);
  else await sb.auth({ username: creds.username, password: creds.password });
  $("who").textContent = creds.username ? creds.username : "token";
  $("signout").hidden = false;
}

let asking = null;
function askCredentials(message) {
  if (asking) return asking;
  setState("unauthorized", "sign-in needed");
  const dialog = $("signin");
  $("signin-error").textContent = message || "";
  asking = new Promise((resolve) => {
    const form = $("signin-form");
    const submit = async (ev) => {
      ev.preventDefault();
      const creds = $("signin-token").value.trim()
        ? { token: $("signin-token").value.trim() }
        : { username: $("signin-user").value, password: $("signin-password").value };
      $("signin-go").disabled = true;
      try {
        await signIn(creds);
        sessionStorage.setItem(CREDS_KEY, JSON.stringify(creds));
        form.removeEventListener("submit", submit);
        dialog.close();
        asking = null;
        if (sb.connected) setState("open", "live · " + sb.transport);
        resolve();
        start();
      } catch (e) {
        $("signin-error").textContent = e.code === "unauthorized" ? "Wrong user name, password or token." : e.message;
      } finally {
        $("signin-go").disabled = false;
      }
    };
    form.addEventListener("submit", submit);
    dialog.addEventListener("cancel", (e) => e.preventDefault());
    dialog.showModal();
    $("signin-user").focus();
  });
  return asking;
}

$("signout").addEventListener("click", () => {
  sessionStorage.removeItem(CREDS_KEY);
  location.replace(location.pathname);
});

$("filter-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const f = $("filter").value.trim() || "#";
  if (f !== filter || !mainOff) watch(f);
});

// ---- publishing -------------------------------------------------------------------------

function parseHex(text) {
  const clean = text.replace(/0x/gi, "").replace(/[\s,:]/g, "");
  if (clean.length % 2 || /[^0-9a-f]/i.test(clean)) throw new Error("bytes must be hexadecimal pairs, e.g. 01 ff 7e");
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

$("publish-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const result = $("pub-result");
  const topic = $("pub-topic").value.trim();
  const format = $("pub-format").value;
  const raw = $("pub-payload").value;
  const retain = $("pub-retain").checked;
  const qos = Number($("pub-qos").value);
  result.className = "result";
  let data;
  try {
    if (format === "json") data = raw.trim() === "" ? null : JSON.parse(raw);
    else if (format === "bytes") data = parseHex(raw);
    else data = raw;
  } catch (err) {
    result.className = "result error";
    result.textContent = format === "json" ? "Not valid JSON: " + err.message : err.message;
    return;
  }
  $("pub-send").disabled = true;
  try {
    await sb.publish(topic, data, { retain, qos, text: format === "text" });
    result.className = "result ok";
    result.textContent = `Published on ${topic} at ${clock(Date.now())}`;
  } catch (err) {
    result.className = "result error";
    result.textContent = `Not published: ${err.code === "forbidden" ? "the ACL does not let you publish there" : err.message}`;
    if (err.code === "unauthorized") askCredentials();
  } finally {
    $("pub-send").disabled = false;
  }
});

// ---- start -----------------------------------------------------------------------------

let started = false;
async function start() {
  if (started) return;
  started = true;
  await watch($("filter").value.trim() || "#");
  await watchSys();
}

await sb.ready();
const creds = storedCredentials();
if (creds && !creds.token) {
  try {
    await signIn(creds);
  } catch (_) {
    sessionStorage.removeItem(CREDS_KEY);
  }
} else if (creds && creds.token && !urlToken) {
  try {
    await signIn(creds);
  } catch (_) {
    sessionStorage.removeItem(CREDS_KEY);
  }
}
if (config.auth_required && !creds && !urlToken) {
  await askCredentials();
} else {
  await start();
}

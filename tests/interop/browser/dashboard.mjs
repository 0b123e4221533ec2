// The /dashboard page in a real browser: Debian's headless Chromium driven by playwright-core.
// Usage: node dashboard.mjs <base url> <screenshot.png> [user password]
//
// Prints one JSON object per line:
//   {"event":"ready"}                      the page is live (after signing in, when given credentials)
//   {"event":"retained", ...}              the row of `plant/1/status` (published, retained, before the page opened)
//   {"event":"seen", ...}                  the row of `plant/1/temp` once the test published it over MQTT
//   {"event":"published", ...}             the page's publish form sent `from/browser/cmd`
//   {"event":"stats", ...}                 connection counts the page shows from $SYS
//   {"event":"screenshot", ...}            the screenshot was saved; distinct colours counted
//   {"event":"console", ...}               anything the page logged as an error
// The test publishes `plant/1/temp` after "ready".
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inflateSync } from "node:zlib";

const [base, shot, user, password] = process.argv.slice(2);
const out = (o) => console.log(JSON.stringify(o));
const profile = mkdtempSync(join(tmpdir(), "sb-chromium-"));
let browser;

const fail = async (why) => {
  out({ event: "failure", why: String(why && why.stack ? why.stack : why) });
  try {
    await browser?.close();
  } finally {
    rmSync(profile, { recursive: true, force: true });
    process.exit(1);
  }
};
setTimeout(() => fail("scenario timed out"), 60000).unref();

/** Distinct RGB colours of an 8-bit RGB/RGBA PNG (what Chromium writes), sampled on a grid. */
function distinctColours(png) {
  let pos = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat = [];
  while (pos < png.length) {
    const len = png.readUInt32BE(pos);
    const type = png.toString("latin1", pos + 4, pos + 8);
    const data = png.subarray(pos + 8, pos + 8 + len);
    if (type === "IHDR") {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      if (data[8] !== 8 || data[12] !== 0) throw new Error("unexpected PNG depth or interlace");
      channels = { 2: 3, 6: 4 }[data[9]];
      if (!channels) throw new Error("unexpected PNG colour type " + data[9]);
    } else if (type === "IDAT") {
      idat.push(data);
    }
    pos += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const rows = [];
  let prev = Buffer.alloc(stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = Buffer.from(raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? line[x - channels] : 0;
      const b = prev[x];
      const c = x >= channels ? prev[x - channels] : 0;
      let add = 0;
      if (filter === 1) add = a;
      else if (filter === 2) add = b;
      else if (filter === 3) add = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        add = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      line[x] = (line[x] + add) & 0xff;
    }
    rows.push(line);
    prev = line;
  }
  const colours = new Set();
  for (let y = 0; y < height; y += 2) {
    for (let x = 0; x < width; x += 2) {
      const i = x * channels;
      colours.add((rows[y][i] << 16) | (rows[y][i + 1] << 8) | rows[y][i + 2]);
    }
  }
  return { width, height, colours: colours.size };
}

try {
  // A persistent context on a fresh profile directory: playwright passes it as --user-data-dir.
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1440, height: 900 },
    colorScheme: "light",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const page = browser.pages()[0] || (await browser.newPage());
  page.on("console", (m) => {
    if (m.type() === "error") out({ event: "console", text: m.text() });
  });
  page.on("pageerror", (e) => out({ event: "console", text: String(e) }));

  const res = await page.goto(base + "/dashboard", { waitUntil: "domcontentloaded" });
  if (!res || res.status() !== 200) throw new Error("GET /dashboard answered " + (res && res.status()));
  if (user) {
    await page.waitForSelector("dialog#signin[open]", { timeout: 10000 });
    await page.fill("#signin-user", user);
    await page.fill("#signin-password", password || "");
    await page.click("#signin-go");
    await page.waitForSelector("dialog#signin:not([open])", { state: "attached", timeout: 10000 });
  }
  await page.waitForSelector('#conn[data-state="open"]', { timeout: 15000 });
  out({ event: "ready", who: await page.textContent("#who") });

  const row = async (topic) => {
    const sel = `tr[data-topic="${topic}"]`;
    await page.waitForSelector(sel, { timeout: 15000 });
    return {
      topic,
      value: await page.textContent(`${sel} td.value`),
      tags: await page.$$eval(`${sel} td.value .tag`, (t) => t.map((x) => x.textContent)),
    };
  };
  out({ event: "retained", ...(await row("plant/1/status")) });
  out({ event: "seen", ...(await row("plant/1/temp")) });
  const logged = await page.textContent("#log");
  out({ event: "logged", temp: logged.includes("plant/1/temp") });

  await page.fill("#pub-topic", "from/browser/cmd");
  await page.selectOption("#pub-format", "json");
  await page.fill("#pub-payload", '{"fan": "on", "speed": 3}');
  await page.click("#pub-send");
  await page.waitForSelector("#pub-result.ok", { timeout: 10000 });
  out({ event: "published", result: await page.textContent("#pub-result") });

  await page.waitForSelector('.protocol[data-protocol="mqtt"]', { timeout: 15000 });
  const stats = await page.$$eval(".protocol", (ps) =>
    Object.fromEntries(ps.map((p) => [p.dataset.protocol || "total", Number(p.querySelector(".n").textContent.replace(/\D/g, ""))])),
  );
  await page.waitForSelector("#sys div", { timeout: 15000 });
  const sys = await page.$$eval("#sys dt", (d) => d.map((x) => x.textContent));
  out({ event: "stats", connections: stats, sys_broker_keys: sys.length });

  // Let the row highlight fade before the picture.
  await page.waitForTimeout(1300);
  const png = await page.screenshot({ fullPage: false });
  writeFileSync(shot, png);
  out({ event: "screenshot", path: shot, bytes: png.length, ...distinctColours(png) });

  await browser.close();
  rmSync(profile, { recursive: true, force: true });
  process.exit(0);
} catch (e) {
  await fail(e);
}

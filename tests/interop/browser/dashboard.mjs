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
import { launch } from "./chromium.mjs";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { distinctColours } from "./png.mjs";

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

try {
  browser = await launch(profile);
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

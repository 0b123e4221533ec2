// The /dashboard page's admin API panels (connected clients, retained topics) in a real browser:
// Debian's headless Chromium driven by playwright-core.
// Usage: node dashboard_api.mjs <base url> off
//        node dashboard_api.mjs <base url> on '<json: {token, expect: [client ids], kick, retained, shot}>'
//
// Prints one JSON object per line:
//   off:  {"event":"off","note":...}            the panels say how to turn the API on
//   on:   {"event":"asked","note":...}          the API answered 401: the page asks for the token
//         {"event":"refused","note":...}        a wrong token is refused and asked again
//         {"event":"listed","rows":{id: {...}}} the expected clients are in the table
//         {"event":"retained","row":{...}}      the retained topic is listed
//         {"event":"stored","token":bool}       the token is in the tab's session storage
//         {"event":"screenshot",...}            full-page screenshot saved (opts.shot); size, distinct colours
//         {"event":"armed","button":...}        a first click on "Disconnect" only asks to confirm
//         {"event":"kicked","status":...}       the second click disconnected the client: its row left
//         {"event":"remembered","asked":bool}   after a reload the table fills without asking again
//   {"event":"console", ...}                     anything the page logged as an error
import { launch } from "./chromium.mjs";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { distinctColours } from "./png.mjs";

const [base, mode, json] = process.argv.slice(2);
const opts = json ? JSON.parse(json) : {};
const out = (o) => console.log(JSON.stringify(o));
const profile = mkdtempSync(join(tmpdir(), "sb-chromium-"));
let browser;

const fail = async (why) => {
  const text = String(why && why.stack ? why.stack : why);
  out({ event: "failure", why: text });
  console.error("dashboard_api.mjs failed: " + text);
  try {
    await browser?.close();
  } finally {
    rmSync(profile, { recursive: true, force: true });
    process.exit(1);
  }
};
setTimeout(() => fail("scenario timed out"), 60000).unref();

const T = { timeout: 15000 };

/** Once the row highlights faded and the live connection settled: a full-page picture. */
async function screenshot(page) {
  if (!opts.shot) return;
  await page.waitForSelector('#conn[data-state="open"]', T);
  await page.mouse.move(0, 0); // no hovered row
  await page.waitForTimeout(1300);
  const png = await page.screenshot({ fullPage: true });
  writeFileSync(opts.shot, png);
  out({ event: "screenshot", path: opts.shot, bytes: png.length, ...distinctColours(png) });
}

try {
  browser = await launch(profile);
  const page = browser.pages()[0] || (await browser.newPage());
  page.on("console", (m) => {
    // The browser logs every non-2xx fetch; the 401 and 404 the panels expect are not errors.
    if (m.type() === "error" && !/status of (401|404)/.test(m.text())) {
      out({ event: "console", text: m.text() });
      console.error("page console: " + m.text());
    }
  });
  page.on("pageerror", (e) => {
    out({ event: "console", text: String(e) });
    console.error("page error: " + String(e));
  });

  const res = await page.goto(base + "/dashboard", { waitUntil: "domcontentloaded" });
  if (!res || res.status() !== 200) throw new Error("GET /dashboard answered " + (res && res.status()));
  const note = (id) => page.textContent("#" + id);

  if (mode === "off") {
    await page.waitForFunction(() => document.getElementById("clients-note").textContent.includes("http.api"), null, T);
    out({ event: "off", note: await note("clients-note"), retained: await note("retained-note") });
  } else {
    const form = "#api-token-form:not([hidden])";
    await page.waitForSelector(form, T);
    out({ event: "asked", note: await note("clients-note") });

    await page.fill("#api-token", "not-the-token");
    await page.click("#api-token-go");
    await page.waitForFunction(() => document.getElementById("clients-note").textContent.includes("refused"), null, T);
    await page.waitForSelector(form, T);
    out({ event: "refused", note: await note("clients-note") });

    await page.fill("#api-token", opts.token);
    await page.click("#api-token-go");
    const rows = {};
    for (const id of opts.expect) {
      const sel = `tr[data-client="${id}"]`;
      await page.waitForSelector(sel, T);
      rows[id] = await page.$eval(sel, (tr) =>
        Object.fromEntries([...tr.children].map((td) => [td.className.split(" ")[0] || "?", td.textContent.trim()])),
      );
    }
    out({ event: "listed", rows, count: await page.textContent("#clients-count") });

    const rsel = `tr[data-retained="${opts.retained}"]`;
    await page.waitForSelector(rsel, T);
    out({ event: "retained", row: await page.$$eval(`${rsel} td`, (tds) => tds.map((td) => td.textContent)) });
    out({ event: "stored", token: (await page.evaluate(() => Object.values(sessionStorage))).includes(opts.token) });
    await screenshot(page);

    const kickSel = `tr[data-client="${opts.kick}"] button[data-kick]`;
    await page.click(kickSel);
    out({ event: "armed", button: await page.textContent(kickSel) });
    await page.click(kickSel);
    await page.waitForSelector(`tr[data-client="${opts.kick}"]`, { state: "detached", timeout: 15000 });
    out({ event: "kicked", status: await page.textContent("#clients-status") });

    await page.reload({ waitUntil: "domcontentloaded" });
    const still = opts.expect.filter((id) => id !== opts.kick);
    for (const id of still) await page.waitForSelector(`tr[data-client="${id}"]`, T);
    out({ event: "remembered", asked: await page.isVisible("#api-token-form") });
  }

  await browser.close();
  rmSync(profile, { recursive: true, force: true });
  process.exit(0);
} catch (e) {
  await fail(e);
}

// Debian's headless Chromium through playwright-core, as every browser scenario here starts it.
import { chromium } from "playwright-core";

/**
 * A persistent context on the fresh profile directory `profile` (playwright passes it as
 * --user-data-dir): 1440x900, light colour scheme, no sandbox, GPU, QUIC or background traffic.
 * `CHROMIUM` overrides the binary (default /usr/bin/chromium).
 */
export function launch(profile) {
  return chromium.launchPersistentContext(profile, {
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
}

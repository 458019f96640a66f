// Run axe-core on local HTML files in headless Chromium and print the violations as JSON.
//
// Usage: node run-axe.mjs CHROMIUM_PATH FILE.html [FILE.html ...]
// Output: {"FILE.html": [{"id", "impact", "help", "targets": [...]}, ...], ...}
// The Python test (tests/test_notice_a11y.py) decides which impacts fail; this
// script only reports. It never downloads a browser: Chromium comes from the OS.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const axePath = require.resolve("axe-core/axe.min.js");
const [executablePath, ...files] = process.argv.slice(2);
if (!executablePath || files.length === 0) {
  console.error("usage: node run-axe.mjs CHROMIUM_PATH FILE.html [...]");
  process.exit(2);
}

// A fresh profile per run, so no state leaks between runs or from a desktop profile.
const profile = mkdtempSync(join(tmpdir(), "covenant-axe-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
  ],
});
const report = {};
try {
  for (const file of files) {
    const page = await context.newPage();
    await page.goto(pathToFileURL(resolve(file)).href);
    await page.addScriptTag({ path: axePath });
    const results = await page.evaluate(async () =>
      // eslint-disable-next-line no-undef
      axe.run(document, {
        runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
      }),
    );
    report[file] = results.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      targets: v.nodes.map((n) => n.target.join(" ")),
    }));
    await page.close();
  }
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(report, null, 2) + "\n");

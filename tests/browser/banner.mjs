// Drive the consent banner's demo pages in headless Chromium and report what happened.
//
// Usage: node banner.mjs CHROMIUM_PATH BASE_URL
// Output: one JSON object, a report per scenario (see below). This script only
// observes; tests/test_consent_banner.py decides what must be true and checks the
// consent API for the records each scenario should have written. It never
// downloads a browser: Chromium comes from the OS, playwright-core from tests/a11y.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "..", "a11y", "package.json"));
const { chromium } = require("playwright-core");

const axePath = require.resolve("axe-core/axe.min.js");
const [executablePath, base] = process.argv.slice(2);
if (!executablePath || !base) {
  console.error("usage: node banner.mjs CHROMIUM_PATH BASE_URL");
  process.exit(2);
}

const DIALOG = '[role="dialog"]';
const isPost = (r) => r.url().endsWith("/api/v1/consent") && r.request().method() === "POST";

// What a page shows right now: the dialog, which tagged scripts ran, the consent state.
async function look(page) {
  return page.evaluate((selector) => {
    const dialog = document.querySelector(selector);
    const label = dialog && document.getElementById(dialog.getAttribute("aria-labelledby"));
    const pixel = document.getElementById("demo-pixel");
    return {
      dialog: Boolean(dialog),
      modal: dialog ? dialog.getAttribute("aria-modal") : null,
      title: label ? label.textContent : null,
      buttons: dialog ? Array.from(dialog.querySelectorAll(".cc-actions button"), (b) => b.textContent) : [],
      signal: Array.from(document.querySelectorAll(".cc-signal p, .cc-toast p"), (p) => p.textContent).join(" "),
      analytics: window.__analyticsRan === true,
      analyticsShown: Boolean(document.getElementById("analytics-ran")),
      advertising: window.__advertisingRan === true,
      pixel: pixel ? pixel.getAttribute("src") : null,
      blocked: document.querySelectorAll('script[type="text/plain"][data-category]').length,
      consentId: window.CovenantConsent ? window.CovenantConsent.consentId() : null,
      mode: window.CovenantConsent ? window.CovenantConsent.mode : null,
      cookie: document.cookie.includes("covenant_consent="),
    };
  }, DIALOG);
}

// Settle: the page has loaded. Releasing a tagged element is synchronous, so a
// still-blocked script is visible at once; one that was released is awaited by its mark.
async function settle(page) {
  await page.waitForLoadState("load");
}

async function clickAndPost(page, name) {
  const posted = page.waitForResponse(isPost);
  await page.getByRole("button", { name, exact: true }).click();
  const response = await posted;
  return { status: response.status(), body: JSON.parse(response.request().postData()) };
}

async function gotoAndPost(page, url) {
  const posted = page.waitForResponse(isPost, { timeout: 5000 });
  await page.goto(url);
  const response = await posted;
  return { status: response.status(), body: JSON.parse(response.request().postData()) };
}

const scenarios = {
  // The banner appears, nothing optional runs before a choice, the keyboard stays in the
  // dialog, and Escape closes it without granting anything.
  async appears(context) {
    const page = await context.newPage();
    await page.goto(`${base}/consent/demo?jurisdiction=eu`);
    await page.waitForSelector(DIALOG);
    await settle(page);
    const before = await look(page);
    const focus = [];
    for (let i = 0; i < 12; i++) {
      await page.keyboard.press("Tab");
      focus.push(await page.evaluate((s) => document.querySelector(s).contains(document.activeElement), DIALOG));
    }
    for (let i = 0; i < 6; i++) {
      await page.keyboard.press("Shift+Tab");
      focus.push(await page.evaluate((s) => document.querySelector(s).contains(document.activeElement), DIALOG));
    }
    await page.keyboard.press("Escape");
    await settle(page);
    const escaped = await look(page);
    // Reopened from the page's "Privacy choices" button, Escape returns focus to it.
    await page.getByRole("button", { name: "Privacy choices" }).click();
    await page.waitForSelector(DIALOG);
    const choicesShown = await page.locator(".cc-choices").isVisible();
    const labelled = await page.getByRole("checkbox", { name: "Analytics" }).count();
    await page.keyboard.press("Escape");
    const focusBack = await page.evaluate(() => document.activeElement && document.activeElement.textContent);
    const reloaded = await page.reload().then(() => look(page));
    return { before, focus, escaped, choicesShown, labelled, focusBack, reloaded };
  },

  async reject(context) {
    const page = await context.newPage();
    await page.goto(`${base}/consent/demo?jurisdiction=eu`);
    await page.waitForSelector(DIALOG);
    const post = await clickAndPost(page, "Reject all");
    await settle(page);
    const after = await look(page);
    await page.goto(`${base}/consent/demo/second?jurisdiction=eu`);
    await settle(page);
    const second = await look(page);
    return { post, after, second };
  },

  async accept(context) {
    const page = await context.newPage();
    await page.goto(`${base}/consent/demo?jurisdiction=eu`);
    await page.waitForSelector(DIALOG);
    const before = await look(page);
    const post = await clickAndPost(page, "Accept all");
    await page.waitForSelector("#analytics-ran");
    await page.waitForSelector("#advertising-ran");
    await settle(page);
    const after = await look(page);
    await page.goto(`${base}/consent/demo/second?jurisdiction=eu`);
    await page.waitForSelector("#analytics-ran");
    await page.waitForSelector("#advertising-ran");
    await settle(page);
    const second = await look(page);
    return { before, post, after, second };
  },

  // Choose: only analytics on; then withdraw it from "Privacy choices".
  async choose(context) {
    const page = await context.newPage();
    await page.goto(`${base}/consent/demo?jurisdiction=eu`);
    await page.waitForSelector(DIALOG);
    await page.getByRole("button", { name: "Choose", exact: true }).click();
    await page.getByRole("checkbox", { name: "Analytics" }).check();
    const post = await clickAndPost(page, "Save choices");
    await page.waitForSelector("#analytics-ran");
    await settle(page);
    const after = await look(page);
    await page.getByRole("button", { name: "Privacy choices" }).click();
    await page.getByRole("checkbox", { name: "Analytics" }).uncheck();
    // A script that ran cannot be unloaded, so the banner reloads the page; the post
    // (keepalive) goes out as the page unloads, and its answer may never reach this page.
    const reload = page.waitForEvent("load");
    const sent = page.waitForRequest((r) => r.url().endsWith("/api/v1/consent") && r.method() === "POST");
    await page.getByRole("button", { name: "Save choices", exact: true }).click();
    const withdrawal = { body: JSON.parse((await sent).postData()) };
    await reload;
    await settle(page);
    const withdrawn = await look(page);
    return { post, after, withdrawal, withdrawn };
  },

  // axe-core on the open dialog with its choices shown, as tests/a11y checks the statement.
  async axe(context) {
    const page = await context.newPage();
    await page.goto(`${base}/consent/demo?jurisdiction=eu`);
    await page.waitForSelector(DIALOG);
    await page.getByRole("button", { name: "Choose", exact: true }).click();
    await page.locator(".cc-category details").first().evaluate((d) => { d.open = true; });
    // The page's CSP allows no inline script: this context alone bypasses it to add axe.
    await page.addScriptTag({ content: readFileSync(axePath, "utf8") });
    const results = await page.evaluate(async () =>
      // eslint-disable-next-line no-undef
      axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] } }),
    );
    const violations = results.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      targets: v.nodes.map((n) => n.target.join(" ")),
    }));
    return { violations };
  },

  // United States, no signal: opt-out, so everything optional runs without a click.
  async usControl(context) {
    const page = await context.newPage();
    await page.goto(`${base}/consent/demo?jurisdiction=us`);
    await page.waitForSelector("#advertising-ran");
    await page.waitForSelector("#analytics-ran");
    await settle(page);
    return { after: await look(page) };
  },

  async gpcHeader(context) {
    const page = await context.newPage();
    const post = await gotoAndPost(page, `${base}/consent/demo?jurisdiction=us`);
    await page.waitForSelector("#analytics-ran");
    await settle(page);
    return { post, after: await look(page) };
  },

  async gpcNavigator(context) {
    const page = await context.newPage();
    const post = await gotoAndPost(page, `${base}/consent/demo?jurisdiction=us`);
    await page.waitForSelector("#analytics-ran");
    await settle(page);
    return { post, after: await look(page) };
  },
};

const setup = {
  axe: { bypassCSP: true },
  gpcHeader: { extraHTTPHeaders: { "Sec-GPC": "1" } },
};

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});
const report = {};
try {
  for (const [name, run] of Object.entries(scenarios)) {
    // A fresh context per scenario: no cookie carries over from another one.
    const context = await browser.newContext(setup[name] || {});
    context.setDefaultTimeout(5000);
    const errors = [];
    context.on("weberror", (e) => errors.push(String(e.error())));
    if (name === "gpcNavigator") {
      await context.addInitScript(() => {
        Object.defineProperty(Navigator.prototype, "globalPrivacyControl", { get: () => true, configurable: true });
      });
    }
    try {
      report[name] = { ...(await run(context)), errors };
    } catch (e) {
      report[name] = { failed: String(e && e.stack ? e.stack : e), errors };
    }
    await context.close();
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(report, null, 2) + "\n");

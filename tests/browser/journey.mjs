// Walk the whole request journey in headless Chromium and report what each step showed.
//
// Usage: node journey.mjs CHROMIUM_PATH BASE_URL < input.json
// Input (stdin, JSON): {"access": PERSON, "deletion": PERSON, "reviewer": {"username",
//   "password"}, "out": DIRECTORY}, where PERSON is {"email", "points": {"point_card_last4":
//   ..., "point_shipping_zip": ..., "point_phone": ...}}.
// Output: one JSON object (see the end of this file). Like banner.mjs, this script only
// observes; tests/test_journey_browser.py decides what must be true and checks the
// service's own records and the store's database. It never downloads a browser:
// Chromium comes from the OS, playwright-core and axe-core from tests/a11y.
import { inflateRawSync } from "node:zlib";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "..", "a11y", "package.json"));
const { chromium } = require("playwright-core");

const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const [executablePath, base] = process.argv.slice(2);
if (!executablePath || !base) {
  console.error("usage: node journey.mjs CHROMIUM_PATH BASE_URL < input.json");
  process.exit(2);
}
const input = JSON.parse(readFileSync(0, "utf8"));

const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const DESK = { viewport: { width: 1280, height: 800 } };
const CHOICE = { access: /^Get a copy of my data/, delete: /^Delete my data/ };
const WAIT_MS = 30000;

// Every console error (a CSP refusal shows up as one), uncaught exception and refused
// request (with the words the service answered), by context. The browser asks for
// /favicon.ico on its own, and the service has none.
const problems = [];
const FAILED_LOAD = "Failed to load resource";
function watch(context, where) {
  context.on("weberror", (e) => problems.push({ where, kind: "exception", text: String(e.error()) }));
  context.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith(FAILED_LOAD)) {
      problems.push({ where, kind: "console", text: m.text(), url: m.location().url });
    }
  });
  context.on("response", async (r) => {
    if (r.status() < 400 || new URL(r.url()).pathname === "/favicon.ico") return;
    const text = await r.text().catch(() => "");
    problems.push({ where, kind: "http", status: r.status(), url: r.url(), text: text.slice(0, 300) });
  });
  context.setDefaultTimeout(10000);
  return context;
}

// --- What a page shows -------------------------------------------------------------------

async function statusPage(page) {
  return page.evaluate(() => ({
    path: location.pathname,
    query: location.search,
    h1: document.querySelector("h1")?.textContent.trim() ?? null,
    state: document.querySelector(".state")?.textContent.trim() ?? null,
    message: document.querySelector('[role="status"]')?.textContent.trim() ?? null,
    h2: Array.from(document.querySelectorAll("h2"), (h) => h.textContent.trim()),
  }));
}

// The console's summary list of facts: {"State": "...", "Reference": "...", ...}.
async function facts(page) {
  return page.evaluate(() => {
    const out = {};
    for (const div of document.querySelectorAll("dl.summary > div")) {
      out[div.querySelector("dt").textContent.trim()] = div.querySelector("dd").textContent.trim();
    }
    return out;
  });
}

// --- The mail, as the demo's outbox page shows it ------------------------------------------

// Open the newest message of this kind sent to this address: the list is newest first.
async function openMessage(page, template, email) {
  await page.goto(`${base}/outbox`);
  const article = page
    .locator("article")
    .filter({ has: page.locator("dd", { hasText: new RegExp(`^${template}$`) }) })
    .filter({ has: page.locator("dd", { hasText: email }) })
    .first();
  await article.getByRole("link", { name: "Open this message" }).click();
  await page.waitForURL(/\/outbox\/[0-9a-f-]{36}$/);
  return page.locator("pre").first().textContent();
}

// --- The consumer: make the request, confirm the e-mail, answer the data points ------------

async function requestAndVerify(page, kind, person, scanning) {
  const seen = {};
  await page.goto(`${base}/privacy`);
  seen.center = await page.locator("h1").textContent();
  if (scanning) await scan(page, "privacy center");
  await page.getByRole("link", { name: CHOICE[kind] }).click();
  await page.waitForURL(/\/privacy\/request\?kind=/);
  seen.formUrl = new URL(page.url()).pathname + new URL(page.url()).search;
  seen.preselected = await page.locator(`#kind-${kind}`).isChecked();
  if (scanning) await scan(page, "request form");
  await page.getByLabel("Your e-mail address").fill(person.email);
  await page.getByLabel("Where do you live?").selectOption("us-ca");
  await page.getByRole("checkbox", { name: /^I declare under penalty of perjury/ }).check();
  await page.getByRole("button", { name: "Send request" }).click();
  await page.waitForURL(/\/privacy\/requests\/[^/]+\/[^/?]+\?m=sent$/);
  seen.submitted = await statusPage(page);
  const status = `${base}${seen.submitted.path}`;
  seen.requestId = seen.submitted.path.split("/")[3];
  if (scanning) await scan(page, "status: code");

  // The verification message: its link opens the status page with the code filled in.
  const text = await openMessage(page, "verification", person.email);
  seen.mailedCode = (text.match(/\b(\d{8})\b/) || [])[1] ?? null;
  const link = page.locator('pre a[href*="?code="]').first();
  seen.linkPath = new URL(await link.getAttribute("href")).pathname;
  await link.click();
  await page.waitForURL(/\?code=\d+$/);
  seen.prefilled = await page.getByLabel("The 8-digit code we e-mailed you").inputValue();
  await page.getByRole("button", { name: "Confirm", exact: true }).click();
  await page.waitForURL(/\?m=passed$/);
  seen.confirmed = await statusPage(page);
  if (scanning) await scan(page, "status: details");

  for (const [name, value] of Object.entries(person.points)) {
    await page.locator(`#${name}`).fill(value);
  }
  // Asked again only where the request needs a signed declaration (a copy of the data).
  const declaration = page.getByRole("checkbox", { name: /^I declare under penalty of perjury/ });
  if (await declaration.count()) await declaration.check();
  await page.getByRole("button", { name: "Check my details" }).click();
  await page.waitForLoadState("load");
  seen.checked = await statusPage(page);
  // A deletion is confirmed separately once the person has proved who they are.
  const confirm = page.getByRole("button", { name: "Yes, delete my data" });
  seen.askedToConfirm = (await confirm.count()) > 0;
  if (seen.askedToConfirm) {
    await confirm.click();
    await page.waitForURL(/\?m=confirmed_action$/);
    seen.actionConfirmed = await statusPage(page);
  }
  return { seen, status };
}

// Reload the status page until the request is complete (the in-process runner fulfils it).
async function untilComplete(page, status) {
  const states = [];
  const started = Date.now();
  while (Date.now() - started < WAIT_MS) {
    await page.goto(status);
    const state = (await statusPage(page)).state;
    if (states.at(-1) !== state) states.push(state);
    if (state === "Your request is complete.") break;
    await page.waitForTimeout(250);
  }
  return { states, final: await statusPage(page) };
}

// --- The package: download it, then open its HTML report -----------------------------------

// One member of a zip, read through the central directory (APPNOTE.TXT §4.3.12, §4.3.7):
// stored or deflated; the package writes report.html without Zip64 or a data descriptor.
function unzipMember(bytes, name) {
  let end = bytes.length - 22;
  while (end >= 0 && bytes.readUInt32LE(end) !== 0x06054b50) end--;
  if (end < 0) throw new Error("not a zip: no end of central directory");
  let at = bytes.readUInt32LE(end + 16);
  for (let i = 0; i < bytes.readUInt16LE(end + 10); i++) {
    const method = bytes.readUInt16LE(at + 10);
    const size = bytes.readUInt32LE(at + 20);
    const nameLength = bytes.readUInt16LE(at + 28);
    const skip = nameLength + bytes.readUInt16LE(at + 30) + bytes.readUInt16LE(at + 32);
    const local = bytes.readUInt32LE(at + 42);
    if (bytes.toString("utf8", at + 46, at + 46 + nameLength) === name) {
      const start = local + 30 + bytes.readUInt16LE(local + 26) + bytes.readUInt16LE(local + 28);
      const data = bytes.subarray(start, start + size);
      return method === 8 ? inflateRawSync(data) : Buffer.from(data);
    }
    at += 46 + skip;
  }
  throw new Error(`${name} is not in the zip`);
}

async function downloadPackage(page, email) {
  await openMessage(page, "completion", email);
  const link = page.locator('pre a[href*="/privacy/download/"]').first();
  const href = new URL(await link.getAttribute("href"));
  const download = page.waitForEvent("download");
  await link.click();
  const got = await download;
  const path = join(input.out, got.suggestedFilename());
  await got.saveAs(path);
  return { path, suggested: got.suggestedFilename(), linkPath: href.pathname, failure: await got.failure() };
}

async function openReport(context, zipPath) {
  const folder = join(input.out, "package");
  mkdirSync(folder, { recursive: true });
  const file = join(folder, "report.html");
  writeFileSync(file, unzipMember(readFileSync(zipPath), "report.html"));
  const page = await context.newPage();
  await page.goto(pathToFileURL(file).href);
  const seen = await page.evaluate(() => ({
    title: document.title,
    lang: document.documentElement.lang,
    h1: Array.from(document.querySelectorAll("h1"), (h) => h.textContent.trim()),
    text: document.body.innerText,
  }));
  await page.close();
  return { file, ...seen };
}

// --- The staff console --------------------------------------------------------------------

async function signIn(page) {
  await page.goto(`${base}/admin/login`);
  await page.getByLabel("Username").fill(input.reviewer.username);
  await page.getByLabel("Password").fill(input.reviewer.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  // Signed in, the browser leaves the sign-in page; refused, it shows why.
  const refused = page.locator('[role="alert"]');
  await Promise.race([page.waitForURL((u) => u.pathname !== "/admin/login"), refused.waitFor()]);
  if (await refused.count()) throw new Error(`sign-in refused: ${await refused.textContent()}`);
  return new URL(page.url()).pathname;
}

// Reload the request's page until fulfilment has run: its manual tasks are listed, or
// (with none) the request is complete.
async function untilFulfilled(page, url) {
  const started = Date.now();
  while (Date.now() - started < WAIT_MS) {
    await page.goto(url);
    const tasks = await page.locator("section.task").count();
    if (tasks > 0 || (await facts(page)).State === "Completed") return tasks;
    await page.waitForTimeout(250);
  }
  return 0;
}

async function approveInConsole(page, rid) {
  const seen = {};
  await page.goto(`${base}/admin`);
  await scan(page, "console: queue");
  const row = page.locator("table.queue tbody tr").filter({ has: page.locator(`a[href="/admin/requests/${rid}"]`) });
  seen.queueRow = (await row.count()) ? await row.locator("td").allTextContents() : null;
  await row.getByRole("link").click();
  await page.waitForURL(new RegExp(`/admin/requests/${rid}$`));
  const url = page.url();
  seen.before = await facts(page);
  await scan(page, "console: request");

  await page.getByRole("button", { name: "Approve and carry out" }).click();
  await page.waitForURL(/\?done=approved$/);
  seen.approved = await page.locator('[role="status"]').textContent();
  seen.tasksListed = await untilFulfilled(page, url);
  if (seen.tasksListed) await scan(page, "console: tasks");

  seen.tasks = [];
  for (let i = 0; i < 20; i++) {
    const open = page.locator("section.task").filter({ has: page.locator("form") });
    const left = await open.count();
    if (!left) break;
    const task = open.first();
    const target = (await task.locator("h3").textContent()).trim();
    const evidence = `Asked about ${target}; confirmed deleted, reference T-${i + 1}.`;
    await task.getByLabel("What was done (the evidence)").fill(evidence);
    await task.getByRole("button", { name: "Mark done" }).click();
    await page.waitForURL(/\?done=task$/);
    // The address is the same after every task: wait for this one's form to be gone.
    await page.waitForFunction((n) => document.querySelectorAll("section.task form").length < n, left);
    seen.tasks.push({ target, evidence, message: await page.locator('[role="status"]').textContent() });
  }
  await page.goto(url);
  seen.after = await facts(page);
  seen.result = await page.evaluate(() => {
    const table = document.querySelector("#result + table");
    const proof = table && table.nextElementSibling;
    return { caption: table?.caption?.textContent.trim() ?? null, proof: proof?.textContent.trim() ?? null };
  });
  return seen;
}

// --- axe-core -----------------------------------------------------------------------------

// Run axe on the page as it stands. The script goes in through DevTools evaluation, which
// the page's CSP does not govern, so the journey's pages keep their strict CSP (a page
// that needed an inline script or style would break here) and no page is loaded twice.
const axeResults = {};
async function scan(page, name) {
  if (!(await page.evaluate(() => typeof window.axe === "object"))) await page.evaluate(axeSource);
  const found = await page.evaluate(async () =>
    // eslint-disable-next-line no-undef
    axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] } }),
  );
  axeResults[name] = {
    path: new URL(page.url()).pathname,
    passes: found.passes.length,
    violations: found.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      targets: v.nodes.map((n) => n.target.join(" ")),
    })),
  };
}

// --- The run ------------------------------------------------------------------------------

async function step(report, name, run) {
  const started = Date.now();
  try {
    report[name] = await run();
  } catch (e) {
    report[name] = { failed: String(e && e.stack ? e.stack : e) };
  }
  report.seconds[name] = (Date.now() - started) / 1000;
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});
const report = { seconds: {} };
try {
  const consumer = watch(await browser.newContext({ ...PHONE, acceptDownloads: true }), "consumer");
  const page = await consumer.newPage();
  let access = null;
  await step(report, "access", async () => {
    access = await requestAndVerify(page, "access", input.access, true);
    return access.seen;
  });
  await step(report, "completion", async () => untilComplete(page, access.status));
  await step(report, "download", async () => downloadPackage(page, input.access.email));
  await step(report, "report", async () => openReport(consumer, report.download.path));

  // Someone else, on their own phone, asks to have their data deleted.
  const other = watch(await browser.newContext(PHONE), "deletion");
  await step(report, "deletion", async () => (await requestAndVerify(await other.newPage(), "delete", input.deletion)).seen);

  const staff = watch(await browser.newContext(DESK), "console");
  const desk = await staff.newPage();
  await step(report, "console", async () => {
    const signedIn = await signIn(desk);
    return { signedIn, ...(await approveInConsole(desk, report.deletion.requestId)) };
  });
} finally {
  await browser.close();
}
report.axe = axeResults;
report.problems = problems;
process.stdout.write(JSON.stringify(report, null, 2) + "\n");

/* Covenant consent banner. Dependency-free ES2017; see docs/consent-banner.md.
 *
 * The server puts the configuration generated from the declaration where
 * CONFIG is assigned (covenant.consent.banner). This file keeps tagged scripts
 * and pixels from running until their category is allowed, shows the choices,
 * remembers them in a first-party cookie and posts each decision to the
 * consent API. It only ever writes text into the page (never HTML), so no
 * declaration text can become markup.
 */
(() => {
  "use strict";
  const CONFIG = /*COVENANT_CONFIG*/null;
  if (!CONFIG || window.CovenantConsent) return; // loaded twice: the first copy rules

  const TEXT = CONFIG.texts;
  const JURISDICTION = /^[a-z]{2}(-[a-z0-9]{1,3})?$/;
  const CONSENT_ID = /^[A-Za-z0-9_-]{8,64}$/;
  const TAGGED = 'script[type="text/plain"][data-category], [data-category][data-src], [data-category][data-srcset]';
  const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]), summary, [tabindex]:not([tabindex="-1"])';

  const self = document.currentScript;
  const base = self && self.src ? self.src : location.href;
  const api = new URL(CONFIG.api, base).href;
  const asked = ((self && self.getAttribute("data-jurisdiction")) || "").trim().toLowerCase();
  const jurisdiction = JURISDICTION.test(asked) ? asked : CONFIG.jurisdiction;
  const mode = CONFIG.modes[jurisdiction] || CONFIG.modes[jurisdiction.split("-")[0]] || "opt-in";

  // GPC spec §3.2: navigator.globalPrivacyControl is a boolean; only true is a signal.
  // The Sec-GPC header, parsed on the server, arrives as CONFIG.signals.gpc.
  const gpc = CONFIG.signals.gpc || navigator.globalPrivacyControl === true;
  const dntSent = CONFIG.signals.dnt || navigator.doNotTrack === "1" || window.doNotTrack === "1";
  const dnt = CONFIG.dnt_honoured && dntSent;

  const categories = CONFIG.categories;
  const known = new Set(categories.map((c) => c.key));
  const ran = new Set();
  const warned = new Set();
  let state = readState();
  let dialog = null;
  let returnFocus = null;

  // ---- choices -------------------------------------------------------------

  function lock(category) {
    if (category.required) return "required";
    if (gpc && category.gpc) return "gpc";
    if (dnt && category.dnt) return "dnt";
    return "";
  }

  function decided() {
    return Boolean(state && state.choices && state.basis === CONFIG.statement.material_version);
  }

  function allowed(key) {
    const category = categories.find((c) => c.key === key);
    if (!category) return false;
    const locked = lock(category);
    if (locked) return locked === "required";
    if (decided() && typeof state.choices[key] === "boolean") return state.choices[key];
    return mode === "opt-out";
  }

  function choices() {
    const out = {};
    for (const c of categories) out[c.key] = allowed(c.key);
    return out;
  }

  // ---- the first-party cookie ---------------------------------------------

  function readState() {
    const prefix = CONFIG.cookie.name + "=";
    for (const part of document.cookie.split(";")) {
      const item = part.trim();
      if (!item.startsWith(prefix)) continue;
      try {
        return clean(JSON.parse(decodeURIComponent(item.slice(prefix.length))));
      } catch (e) {
        return null; // a damaged cookie is as good as none
      }
    }
    return null;
  }

  function clean(raw) {
    // The cookie is input like any other: keep only what has the expected shape.
    if (!raw || typeof raw !== "object" || !CONSENT_ID.test(raw.id)) return null;
    const out = { id: raw.id, signals: [] };
    if (Array.isArray(raw.signals)) out.signals = raw.signals.filter((s) => s === "gpc" || s === "dnt");
    if (raw.choices && typeof raw.choices === "object") {
      out.choices = {};
      for (const c of categories) if (raw.choices[c.key] === true || raw.choices[c.key] === false) out.choices[c.key] = raw.choices[c.key];
    }
    for (const k of ["version", "basis", "seen"]) if (typeof raw[k] === "string") out[k] = raw[k];
    return out;
  }

  function writeState() {
    const secure = location.protocol === "https:" ? "; Secure" : "";
    const age = CONFIG.cookie.max_age_days * 86400;
    document.cookie = `${CONFIG.cookie.name}=${encodeURIComponent(JSON.stringify(state))}; Path=/; Max-Age=${age}; SameSite=Lax${secure}`;
  }

  function newId() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function ensureState() {
    if (!state) state = { id: newId(), signals: [] };
    if (!Array.isArray(state.signals)) state.signals = [];
    return state;
  }

  // ---- the consent API -----------------------------------------------------

  function post(list, method, evidence) {
    if (!list.length) return;
    const body = {
      consent_id: state.id,
      choices: list,
      notice_version: CONFIG.statement.version,
      method: method,
      jurisdiction: jurisdiction,
      evidence: Object.assign({ mode: mode.replace("-", "_") }, evidence),
    };
    // keepalive: the record is sent even when the person leaves the page right away.
    // A failure never blocks the page; the cookie still holds the choice.
    try {
      fetch(api, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
        credentials: "same-origin",
        keepalive: true,
      }).catch(() => {});
    } catch (e) {
      /* fetch missing or refused: the page goes on */
    }
  }

  function honourSignals() {
    // Each signal is recorded once per device, then remembered in the cookie.
    const pending = [];
    if (gpc) pending.push(["gpc", CONFIG.sale_purposes, (c) => c.gpc]);
    if (dnt) pending.push(["dnt", CONFIG.dnt_purposes, (c) => c.dnt]);
    let fresh = false;
    for (const [signal, purposes, refuses] of pending) {
      if (state && state.signals.includes(signal)) continue;
      ensureState().signals.push(signal);
      writeState();
      const list = categories
        .filter((c) => !c.required && refuses(c))
        .map((c) => ({ category: c.key, choice: "denied" }))
        .concat(purposes.map((p) => ({ purpose: p, choice: "denied" })));
      // "gpc" is the method only when the server saw the header itself (it checks).
      const method = signal === "gpc" && CONFIG.signals.gpc ? "gpc" : "banner";
      post(list, method, { action: "signal", signal: signal });
      fresh = true;
    }
    return fresh;
  }

  function notices() {
    const out = [];
    if (gpc) out.push(TEXT.gpc_honoured);
    if (dnt) out.push(TEXT.dnt_honoured);
    else if (dntSent) out.push(TEXT.dnt_not_honoured);
    return out;
  }

  function decide(wanted, action) {
    ensureState();
    const before = choices();
    const list = [];
    const mine = {};
    for (const c of categories) {
      if (c.required) continue;
      const on = !lock(c) && wanted[c.key] === true;
      mine[c.key] = on;
      // GDPR Art. 7(3): taking back a grant is recorded as a withdrawal.
      list.push({ category: c.key, choice: on ? "granted" : before[c.key] && decided() ? "withdrawn" : "denied" });
    }
    // Refusing advertising also opts out of the purposes that sell or share (CCPA §1798.120);
    // the banner never opts anyone in to those: that takes the store's own form.
    const refusesSale = categories.some((c) => c.gpc && !c.required && !mine[c.key]);
    const purposes = refusesSale ? CONFIG.sale_purposes.map((p) => ({ purpose: p, choice: "denied" })) : [];
    state.choices = mine;
    state.version = CONFIG.statement.version;
    state.basis = CONFIG.statement.material_version;
    writeState();
    post(list.concat(purposes), "banner", { action: action });
    changed(before);
  }

  function changed(before) {
    const now = choices();
    document.dispatchEvent(new CustomEvent("covenant:consent", { detail: now }));
    // A script that already ran cannot be unloaded: reload so a withdrawal takes effect.
    if (Object.keys(now).some((k) => before[k] && !now[k] && ran.has(k))) {
      location.reload();
      return;
    }
    activate(document);
  }

  // ---- blocking and releasing tagged elements ------------------------------

  function release(el) {
    const key = el.getAttribute("data-category");
    if (!known.has(key)) {
      if (!warned.has(key)) console.warn(`Covenant: data-category="${key}" is not a declared tracker category; it stays blocked.`);
      warned.add(key);
      return;
    }
    if (!allowed(key)) return;
    ran.add(key);
    if (el.tagName === "SCRIPT") {
      const real = document.createElement("script");
      for (const a of Array.from(el.attributes)) {
        if (a.name !== "type" && a.name !== "data-type") real.setAttribute(a.name, a.value);
      }
      const type = el.getAttribute("data-type");
      if (type) real.type = type;
      if (el.nonce) real.nonce = el.nonce;
      if (!el.hasAttribute("src")) real.text = el.text;
      real.async = false; // tagged scripts run in document order, as untagged ones would
      real.setAttribute("data-consent-released", "");
      el.replaceWith(real);
      return;
    }
    if (el.hasAttribute("data-srcset")) el.setAttribute("srcset", el.getAttribute("data-srcset"));
    if (el.hasAttribute("data-src")) el.setAttribute("src", el.getAttribute("data-src"));
    el.removeAttribute("data-src");
    el.removeAttribute("data-srcset");
    el.setAttribute("data-consent-released", "");
  }

  function activate(root) {
    if (root.nodeType !== 1 && root !== document) return;
    if (root !== document && root.matches(TAGGED)) release(root);
    for (const el of Array.from(root.querySelectorAll(TAGGED))) release(el);
  }

  // ---- the dialog ----------------------------------------------------------

  function make(tag, attrs, text) {
    const el = document.createElement(tag);
    for (const name of Object.keys(attrs || {})) el.setAttribute(name, attrs[name]);
    if (text) el.textContent = text;
    return el;
  }

  function button(label, action) {
    return make("button", { type: "button", class: "cc-button", "data-action": action }, label);
  }

  function categoryBlock(c, index) {
    const id = `cc-cat-${index}`;
    const block = make("div", { class: "cc-category" });
    const row = make("div", { class: "cc-row" });
    const box = make("input", { type: "checkbox", id: id, name: c.key, "aria-describedby": `${id}-about` });
    const locked = lock(c);
    box.checked = allowed(c.key);
    if (locked) box.disabled = true;
    row.append(box, make("label", { for: id }, c.label));
    block.append(row);
    const about = make("div", { id: `${id}-about`, class: "cc-about" });
    about.append(make("p", {}, c.description));
    const note = { required: TEXT.always_on, gpc: TEXT.gpc_locked, dnt: TEXT.dnt_locked }[locked];
    if (note) about.append(make("p", { class: "cc-locked" }, note));
    block.append(about);
    if (c.trackers.length) {
      const details = make("details");
      details.append(make("summary", {}, `${TEXT.trackers_heading} (${c.trackers.length})`));
      const list = make("ul");
      for (const t of c.trackers) {
        const item = make("li", {}, `${t.name} (${t.vendor}): ${t.purpose} ${TEXT.kept_for}: ${t.lifetime}.`);
        if (t.opt_out_url && /^https:\/\//.test(t.opt_out_url)) {
          item.append(" ", make("a", { href: t.opt_out_url, rel: "noopener noreferrer" }, `${t.vendor} ${TEXT.vendor_opt_out}`));
        }
        list.append(item);
      }
      details.append(list);
      block.append(details);
    }
    return block;
  }

  function build() {
    const root = make("div", { class: `cc-root cc-${mode}` });
    const box = make("div", {
      class: "cc-dialog",
      role: "dialog",
      "aria-modal": "true",
      "aria-labelledby": "cc-title",
      "aria-describedby": "cc-intro",
      tabindex: "-1",
    });
    const close = make("button", { type: "button", class: "cc-close", "data-action": "close", "aria-label": TEXT.close });
    close.append(make("span", { "aria-hidden": "true" }, "\u00d7"));
    box.append(close, make("h2", { id: "cc-title" }, TEXT.title));
    box.append(make("p", { id: "cc-intro" }, mode === "opt-out" ? TEXT.intro_opt_out : TEXT.intro_opt_in));
    const signals = make("div", { class: "cc-signal", role: "status" });
    for (const text of notices()) signals.append(make("p", {}, text));
    if (!signals.firstChild) signals.hidden = true;
    box.append(signals);
    const form = make("form", { class: "cc-choices", id: "cc-choices" });
    form.hidden = true;
    const fieldset = make("fieldset");
    fieldset.append(make("legend", {}, TEXT.choices_legend));
    categories.forEach((c, i) => fieldset.append(categoryBlock(c, i)));
    form.append(fieldset, button(TEXT.save, "save"));
    const actions = make("div", { class: "cc-actions" });
    const choose = button(TEXT.choose, "choose");
    choose.setAttribute("aria-expanded", "false");
    choose.setAttribute("aria-controls", "cc-choices");
    actions.append(button(TEXT.accept, "accept"), button(TEXT.reject, "reject"), choose);
    box.append(actions, form);
    const link = make("p", { class: "cc-statement" });
    link.append(make("a", { href: CONFIG.statement.url }, TEXT.statement_link));
    box.append(link);
    root.append(box);
    box.addEventListener("click", onClick);
    box.addEventListener("keydown", onKey);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      save();
    });
    return root;
  }

  function onClick(event) {
    const target = event.target.closest("[data-action]");
    if (!target) return;
    const action = target.getAttribute("data-action");
    if (action === "accept") {
      const all = {};
      for (const c of categories) all[c.key] = true;
      finish(all, "accept_all");
    } else if (action === "reject") {
      finish({}, "reject_all");
    } else if (action === "choose") {
      toggleChoices(target);
    } else if (action === "save") {
      save();
    } else if (action === "close") {
      closeDialog();
    }
  }

  function toggleChoices(toggle) {
    const form = dialog.querySelector(".cc-choices");
    form.hidden = !form.hidden;
    toggle.setAttribute("aria-expanded", String(!form.hidden));
    if (!form.hidden) {
      const first = form.querySelector("input:not([disabled])");
      if (first) first.focus();
    }
  }

  function save() {
    const wanted = {};
    for (const box of Array.from(dialog.querySelectorAll(".cc-choices input[type=checkbox]"))) {
      wanted[box.name] = box.checked;
    }
    finish(wanted, "save");
  }

  function finish(wanted, action) {
    decide(wanted, action);
    closeDialog();
    toast([TEXT.saved]);
  }

  function focusables() {
    return Array.from(dialog.querySelectorAll(FOCUSABLE)).filter((el) => el.getClientRects().length > 0);
  }

  function onKey(event) {
    if (event.key === "Escape") {
      // Closing grants nothing: in opt-in mode everything optional stays off.
      event.preventDefault();
      closeDialog();
      return;
    }
    if (event.key !== "Tab") return;
    const items = focusables();
    if (!items.length) return;
    const first = items[0];
    const last = items[items.length - 1];
    const onItem = items.includes(document.activeElement);
    if (event.shiftKey && (!onItem || document.activeElement === first)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (!onItem || document.activeElement === last)) {
      event.preventDefault();
      first.focus();
    }
  }

  function trapOutside(event) {
    // Focus that leaves the dialog some other way (a click on the page) is brought back.
    if (dialog && !dialog.contains(event.target)) dialog.querySelector(".cc-dialog").focus();
  }

  function openDialog(showChoices) {
    if (!document.body) {
      document.addEventListener("DOMContentLoaded", () => openDialog(showChoices), { once: true });
      return;
    }
    if (dialog) closeDialog(true);
    returnFocus = document.activeElement;
    dialog = build();
    document.body.append(dialog);
    document.addEventListener("focusin", trapOutside);
    if (showChoices) toggleChoices(dialog.querySelector('[data-action="choose"]'));
    else dialog.querySelector(".cc-dialog").focus();
  }

  function closeDialog(silent) {
    if (!dialog) return;
    document.removeEventListener("focusin", trapOutside);
    dialog.remove();
    dialog = null;
    // In opt-out mode the notice has been seen and the defaults stand; remember that,
    // so it is not shown on every page. In opt-in mode closing records nothing.
    if (!silent && mode === "opt-out" && !decided()) {
      ensureState().seen = CONFIG.statement.material_version;
      writeState();
    }
    const back = returnFocus && returnFocus.isConnected && returnFocus !== document.body ? returnFocus : null;
    returnFocus = null;
    if (back && typeof back.focus === "function") back.focus();
  }

  function toast(texts) {
    if (!texts.length) return;
    if (!document.body) {
      document.addEventListener("DOMContentLoaded", () => toast(texts), { once: true });
      return;
    }
    const old = document.querySelector(".cc-toast");
    if (old) old.remove();
    const box = make("div", { class: "cc-toast", role: "status" });
    const ok = make("button", { type: "button", class: "cc-button" }, TEXT.ok);
    ok.addEventListener("click", () => box.remove());
    for (const text of texts) box.append(make("p", {}, text));
    box.append(ok);
    document.body.append(box);
  }

  // ---- start ---------------------------------------------------------------

  function stylesheet() {
    const href = new URL(CONFIG.stylesheet, base).href;
    const links = Array.from(document.querySelectorAll('link[rel~="stylesheet"]'));
    if (links.some((l) => l.href === href)) return;
    (document.head || document.documentElement).append(make("link", { rel: "stylesheet", href: href }));
  }

  function start() {
    stylesheet();
    const fresh = honourSignals();
    activate(document);
    new MutationObserver((records) => {
      for (const r of records) for (const node of Array.from(r.addedNodes)) activate(node);
    }).observe(document.documentElement, { childList: true, subtree: true });
    document.addEventListener("click", (event) => {
      const opener = event.target.closest && event.target.closest("[data-covenant-open]");
      if (!opener) return;
      event.preventDefault();
      openDialog(true);
    });
    const seen = state && state.seen === CONFIG.statement.material_version;
    if (!decided() && !seen) openDialog(false);
    else if (fresh) toast(notices()); // the dialog is not shown: say so in a status message
  }

  window.CovenantConsent = Object.freeze({
    /** Open the dialog with the per-category choices shown. */
    open: () => openDialog(true),
    /** Each category's current state: {analytics: false, ...}. */
    choices: choices,
    allowed: allowed,
    consentId: () => (state ? state.id : null),
    jurisdiction: jurisdiction,
    mode: mode,
    signals: Object.freeze({ gpc: gpc, dnt: dntSent, dntHonoured: dnt }),
  });

  start();
})();

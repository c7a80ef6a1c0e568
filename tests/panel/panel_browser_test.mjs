// The agent panel in a real browser: Debian's Chromium, headless, driven by playwright-core.
// Run by run_browser_test.sh, which installs playwright-core and starts the server; by hand:
//
//   PANEL_BASE_URL=http://127.0.0.1:PORT PANEL_TOKEN=... PANEL_NODE_MODULES=DIR \
//     node tests/panel/panel_browser_test.mjs
//
// Environment:
//   PANEL_BASE_URL      the server (the panel at / and /panel, the API beside it)
//   PANEL_TOKEN         a full (read-write) API token
//   PANEL_NODE_MODULES  the folder holding node_modules/playwright-core
//   CHROMIUM            the browser (default /usr/bin/chromium)
//   PANEL_SIMULATED     1: the server is panel_test_server (its calls and scripted payments are
//                       known: call-2's caller mistypes the card number first)
//   PANEL_SCENARIOS     comma-separated subset of wrong-token,payment,cancel (default: all when
//                       simulated, else wrong-token,payment)
//   PANEL_CALL_ID       the call to pay on (default: the first listed)
//   PANEL_LAST_FOUR, PANEL_BRAND   the expected card (default 1111, Visa)
//   PANEL_SCREENSHOT_DIR           where to save screenshots (none by default)
//   CHROMIUM_NO_SANDBOX=1          --no-sandbox also when not root (always as root)
//
// Every wait is bounded. Exit status 0 when every scenario passed, 1 otherwise.

import { createRequire } from "node:module";
import path from "node:path";
import assert from "node:assert/strict";

const env = process.env;
const baseUrl = (env.PANEL_BASE_URL || "").replace(/\/+$/, "");
const token = env.PANEL_TOKEN || "";
const simulated = env.PANEL_SIMULATED === "1";
const scenarios = (env.PANEL_SCENARIOS || (simulated ? "wrong-token,payment,cancel" : "wrong-token,payment"))
  .split(",").map((s) => s.trim()).filter(Boolean);
const lastFour = env.PANEL_LAST_FOUR || "1111";
const brand = env.PANEL_BRAND || "Visa";
const screenshotDir = env.PANEL_SCREENSHOT_DIR || "";
if (!baseUrl || !token || !env.PANEL_NODE_MODULES) {
  console.error("panel_browser_test: set PANEL_BASE_URL, PANEL_TOKEN and PANEL_NODE_MODULES");
  process.exit(2);
}
const require = createRequire(path.join(path.resolve(env.PANEL_NODE_MODULES), "node_modules", "_"));
const { chromium } = require("playwright-core");

const WAIT_MS = 15000;       // any one element or state
const PAYMENT_MS = 60000;    // a whole scripted payment

// A run of 12 or more digits (spaces and dashes between them allowed): where a card number
// would show. Call and payment ids, references and times have shorter runs.
const CARD_LIKE = /(?:\d[ -]?){12,}/;

// Collects what must not happen on a page: script errors and Content-Security-Policy refusals.
function watch(page, problems) {
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && /Content Security Policy/i.test(m.text())) {
      problems.push(`CSP: ${m.text()}`);
    }
  });
}

async function screenshot(page, name) {
  if (!screenshotDir) return;
  await page.screenshot({ path: path.join(screenshotDir, `${name}.png`), fullPage: true });
}

// The page's whole text and markup hold no card number.
async function assertNoCardNumber(page, where) {
  const { text, html } = await page.evaluate(() => ({
    text: document.body.innerText + "\n" + document.body.textContent,
    html: document.documentElement.outerHTML,
  }));
  assert.ok(!text.includes("4111111111111111"), `${where}: the full card number is in the text`);
  assert.ok(!CARD_LIKE.test(text), `${where}: a card-number-like digit run is in the text: ${text.match(CARD_LIKE)}`);
  assert.ok(!CARD_LIKE.test(html), `${where}: a card-number-like digit run is in the DOM: ${html.match(CARD_LIKE)}`);
}

// Records, inside the page, every value the masked progress shows while it changes.
async function recordProgress(page) {
  await page.evaluate(() => {
    const seen = { digits: [], masks: [], gateway: [], phases: [] };
    window.__panelSeen = seen;
    const sample = () => {
      const mask = document.querySelector('[data-testid="card-mask"]');
      if (mask) {
        const d = Number(mask.dataset.digits);
        if (seen.digits[seen.digits.length - 1] !== d) {
          seen.digits.push(d);
          seen.masks.push(mask.textContent);
        }
      }
      const g = document.querySelector('[data-testid="gateway-state"]');
      if (g && g.textContent && seen.gateway[seen.gateway.length - 1] !== g.textContent) {
        seen.gateway.push(g.textContent);
      }
      const p = document.querySelector('[data-testid="pay-phase"]');
      if (p && p.textContent && seen.phases[seen.phases.length - 1] !== p.textContent) {
        seen.phases.push(p.textContent);
      }
    };
    new MutationObserver(sample).observe(document.body, {
      subtree: true, childList: true, characterData: true, attributes: true,
    });
  });
}

async function openPanel(browser, pagePath, tokenValue, problems) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.setDefaultNavigationTimeout(WAIT_MS);
  watch(page, problems);
  await page.goto(`${baseUrl}${pagePath}#token=${encodeURIComponent(tokenValue)}`);
  return { context, page };
}

async function callRow(page, callId) {
  const rows = page.getByTestId("call-row");
  if (callId) {
    const row = page.locator(`[data-testid="call-row"][data-call-id="${callId}"]`);
    await row.waitFor({ state: "visible" });
    return row;
  }
  await rows.first().waitFor({ state: "visible" });
  return rows.first();
}

async function takePayment(page, row, { amount, reference, currency }) {
  await row.getByTestId("take-payment").click();
  const dialog = page.getByTestId("take-dialog");
  await dialog.waitFor({ state: "visible" });
  await page.getByTestId("amount").fill(amount);
  if (currency) await page.getByTestId("currency").fill(currency);
  await page.getByTestId("reference").fill(reference);
  assert.equal(await page.getByTestId("mode").inputValue(), "agent-assisted", "the default mode");
  await page.getByTestId("take-submit").click();
}

// --- scenarios --------------------------------------------------------------------------------

async function wrongToken(browser) {
  const problems = [];
  const { context, page } = await openPanel(browser, "/panel", "wrong-token-0000000000000000", problems);
  try {
    const error = page.getByTestId("login-error");
    await error.waitFor({ state: "visible" });
    const text = await error.textContent();
    assert.match(text, /refused/i, "the error says the token was refused");
    assert.match(text, /unauthorized/, "the error carries the API's code");
    assert.match(text, /401/, "the error carries the HTTP status");
    assert.ok(await page.locator("#login-view").isVisible(), "the sign-in form is shown");
    assert.ok(await page.locator("#app-view").isHidden(), "the calls are not shown");
    assert.ok(!page.url().includes("token="), `the token left the address bar: ${page.url()}`);
    assert.equal(await page.evaluate(() => sessionStorage.getItem("toneguard.panel.token")), null,
                 "a refused token is not kept");
    await screenshot(page, "wrong-token");

    // The sign-in form then works with the right token.
    await page.getByTestId("token-input").fill(token);
    await page.getByTestId("login-submit").click();
    await page.getByTestId("call-row").first().waitFor({ state: "visible" });
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
}

async function payment(browser) {
  const problems = [];
  const { context, page } = await openPanel(browser, "/", token, problems);
  try {
    assert.ok(!page.url().includes("token="), `the token left the address bar: ${page.url()}`);
    assert.equal(await page.evaluate(() => sessionStorage.getItem("toneguard.panel.token")), token);
    const row = await callRow(page, env.PANEL_CALL_ID || (simulated ? "call-1@sim.toneguard" : ""));
    const callId = await row.getAttribute("data-call-id");
    assert.match(await row.getByTestId("call-state").textContent(), /\S/, "the call's state");
    assert.match(await row.getByTestId("call-started").textContent(), /\d\d:\d\d/, "the start time");
    await screenshot(page, "calls");

    const requests = [];
    page.on("request", (r) => {
      if (r.method() === "POST" && r.url().endsWith("/payments")) requests.push(r);
    });
    const sockets = [];
    page.on("websocket", (ws) => sockets.push(ws.url()));
    await recordProgress(page);
    await takePayment(page, row, { amount: "19.99", reference: "INV-1042" });

    // The request: JSON body and an Idempotency-Key.
    await page.getByTestId("take-dialog").waitFor({ state: "hidden" });
    assert.equal(requests.length, 1, "one start request");
    const headers = await requests[0].allHeaders();
    assert.ok(/^[0-9a-f-]{16,}$/i.test(headers["idempotency-key"] || ""), "an Idempotency-Key");
    assert.deepEqual(JSON.parse(requests[0].postData()),
                     { amount: "19.99", mode: "agent-assisted", reference: "INV-1042" });
    assert.ok(requests[0].url().includes(`/v1/calls/${encodeURIComponent(callId)}/payments`));

    // The payment's panel, live.
    const payId = (await page.getByTestId("pay-id").textContent()).trim();
    assert.ok(payId.length > 0, "the payment id is shown");
    assert.equal((await page.getByTestId("pay-reference").textContent()).trim(), "INV-1042");
    assert.match(await page.getByTestId("pay-amount").textContent(), /19\.99/);
    await page.locator('[data-testid="events-status"][data-state="ok"], [data-testid="result"]:visible')
      .first().waitFor();
    assert.ok(sockets.some((u) => u.startsWith(baseUrl.replace(/^http/, "ws")) &&
                                  u.includes(`/v1/payments/${payId}/events?access_token=`)),
              `the events WebSocket: ${sockets}`);

    // The card number fills, masked; the brand shows; then the field is valid.
    await page.locator('[data-testid="card-mask"][data-digits="8"], [data-testid="card-mask"][data-digits="9"]')
      .first().waitFor({ timeout: PAYMENT_MS });
    await screenshot(page, "card-filling");
    await assertNoCardNumber(page, "while the card number is entered");
    await page.locator('[data-testid="card-brand"]', { hasText: brand }).waitFor({ timeout: PAYMENT_MS });
    await page.locator('[data-testid="field-state-card-number"]', { hasText: "✓" }).waitFor({ timeout: PAYMENT_MS });
    assert.equal(await page.getByTestId("card-mask").getAttribute("data-digits"), "16");
    assert.equal((await page.getByTestId("card-mask").textContent()).replace(/\s/g, ""), "•".repeat(16));

    // The result.
    const result = page.getByTestId("result");
    await result.waitFor({ state: "visible", timeout: PAYMENT_MS });
    await screenshot(page, "result");
    assert.equal(await page.getByTestId("result-name").getAttribute("data-result"), "success");
    assert.match(await page.getByTestId("result-name").textContent(), /approved/i);
    const card = (await page.getByTestId("result-card").innerText()).replace(/\s+/g, " ");
    assert.ok(card.includes(`•••• •••• •••• ${lastFour}`), `the masked card: ${card}`);
    assert.ok(card.includes(brand), `the brand: ${card}`);
    assert.ok(card.includes("✓"), `the tick: ${card}`);
    assert.match(await page.getByTestId("result-amount").textContent(), /19\.99/);
    const reference = (await page.getByTestId("result-reference").textContent()).trim();
    assert.ok(reference && reference !== "—", "a transaction reference");
    if (simulated) assert.match(reference, /^ch_sim_\d+$/);
    assert.ok(await page.getByTestId("cancel-payment").isHidden(), "no cancel after the result");
    if (simulated) {
      for (const f of ["expiry", "cvv"]) {
        assert.match(await page.getByTestId(`field-state-${f}`).textContent(), /✓/, `${f} valid`);
      }
    }

    // What the page showed on the way: the mask filling, "processing", no card number.
    const seen = await page.evaluate(() => window.__panelSeen);
    const filling = [...new Set(seen.digits.filter((d) => d > 0 && d < 16))];
    assert.ok(filling.length >= 6, `the mask filled step by step: ${seen.digits}`);
    assert.ok(seen.digits.includes(16), `the mask reached 16: ${seen.digits}`);
    for (const m of seen.masks) assert.ok(!/\d/.test(m), `a mask with a digit: ${m}`);
    assert.ok(seen.gateway.some((g) => /processing/i.test(g)), `"processing" shown: ${seen.gateway}`);
    await assertNoCardNumber(page, "after the result");

    // The calls list names the payment.
    await page.locator(`[data-testid="call-row"][data-call-id="${callId}"] [data-testid="call-payment"]`,
                       { hasText: payId }).waitFor();

    // A reload keeps the token (sessionStorage) and the payment followed, its result read back.
    await page.reload();
    await page.locator('[data-testid="result-name"][data-result="success"]').waitFor();
    assert.equal((await page.getByTestId("pay-id").textContent()).trim(), payId);
    assert.match(await page.getByTestId("result-card").innerText(), new RegExp(lastFour));
    // Closed, then shown again from the calls list.
    await page.getByTestId("close-payment").click();
    await page.locator("#payment-placeholder").waitFor({ state: "visible" });
    await page.locator(`[data-testid="call-row"][data-call-id="${callId}"] [data-testid="show-payment"]`).click();
    await page.locator('[data-testid="result-name"][data-result="success"]').waitFor();
    assert.equal((await page.getByTestId("pay-id").textContent()).trim(), payId);
    await assertNoCardNumber(page, "after the reload");
    assert.deepEqual(problems, []);
    console.log(`panel_browser_test: payment ${payId}: ${card}, reference ${reference}`);
  } finally {
    await context.close();
  }
}

async function cancel(browser) {
  const problems = [];
  const { context, page } = await openPanel(browser, "/", token, problems);
  try {
    const row = await callRow(page, env.PANEL_CANCEL_CALL_ID || (simulated ? "call-2@sim.toneguard" : ""));
    await takePayment(page, row, { amount: "5", reference: "INV-7", currency: "usd" });
    await page.getByTestId("take-dialog").waitFor({ state: "hidden" });
    if (simulated) {
      // call-2's caller mistypes: ✗ with the error type.
      const state = page.locator('[data-testid="field-state-card-number"][data-error="luhn-failed"]');
      await state.waitFor({ timeout: PAYMENT_MS });
      assert.match(await state.textContent(), /✗.*luhn-failed/);
      await screenshot(page, "field-invalid");
    } else {
      await page.locator('[data-testid="card-mask"]').waitFor({ timeout: PAYMENT_MS });
    }

    // A second payment on the same call is refused; the API's error is shown.
    await row.getByTestId("take-payment").click();
    await page.getByTestId("amount").fill("5");
    await page.getByTestId("take-submit").click();
    const error = page.getByTestId("take-error");
    await error.filter({ hasText: "payment_in_progress" }).waitFor();
    assert.match(await error.textContent(), /409/);
    await screenshot(page, "api-error");
    await page.getByTestId("take-cancel").click();
    await page.getByTestId("take-dialog").waitFor({ state: "hidden" });

    // Cancel.
    await page.getByTestId("cancel-payment").click();
    await page.locator('[data-testid="result-name"][data-result="cancelled"]').waitFor({ timeout: WAIT_MS });
    assert.match(await page.getByTestId("result-name").textContent(), /cancelled/i);
    assert.ok(await page.getByTestId("result-card").isHidden(), "no card line without a card");
    assert.ok(await page.getByTestId("close-payment").isVisible());
    await screenshot(page, "cancelled");
    await assertNoCardNumber(page, "after the cancel");
    await page.getByTestId("close-payment").click();
    await page.locator("#payment-placeholder").waitFor({ state: "visible" });
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
}

// --- main -------------------------------------------------------------------------------------

const all = { "wrong-token": wrongToken, payment, cancel };
let failed = 0;
const browser = await chromium.launch({
  executablePath: env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  timeout: 30000,
  // Chromium refuses to run as root with its sandbox (and containers often lack what it needs).
  args: [...((process.getuid && process.getuid() === 0) || env.CHROMIUM_NO_SANDBOX === "1"
    ? ["--no-sandbox"] : []),
         "--disable-dev-shm-usage", "--disable-gpu"],
});
try {
  console.log(`panel_browser_test: ${browser.version()} against ${baseUrl}`);
  for (const name of scenarios) {
    const run = all[name];
    if (!run) {
      console.error(`panel_browser_test: unknown scenario ${name}`);
      failed++;
      continue;
    }
    const began = Date.now();
    try {
      await run(browser);
      console.log(`ok   ${name} (${Date.now() - began} ms)`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${name} (${Date.now() - began} ms): ${e && e.stack ? e.stack : e}`);
    }
  }
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);

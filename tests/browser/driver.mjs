// The browser tests' driver: real headless Chromium (Debian's /usr/bin/chromium) through playwright-core, spoken to
// in JSON lines over stdin/stdout by tests/browser/harness.py. One browser per process; `new_context` gives each test
// a fresh context (cookies, storage). Every answer is {"id", "ok", "result"} or {"id", "ok": false, "error"}.
import { chromium } from 'playwright-core';
import readline from 'node:readline';

const options = JSON.parse(process.argv[2] || '{}');
const browser = await chromium.launch({
  executablePath: options.executablePath || '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox',
    '--headless',
    '--disable-gpu',
    '--disable-background-networking',
    // Trust exactly the emulators' own server certificates (SPKI pins computed by the harness after checking them
    // against the emulators' CA), instead of ignoring every certificate error.
    ...(options.spkiPins?.length ? [`--ignore-certificate-errors-spki-list=${options.spkiPins.join(',')}`] : []),
  ],
});

let context = null;
let page = null;
let consoleErrors = [];
let navigations = [];
let failures = [];

async function newContext() {
  if (context) await context.close();
  context = await browser.newContext({ ignoreHTTPSErrors: false, javaScriptEnabled: options.javaScript !== false });
  page = await context.newPage();
  consoleErrors = [];
  navigations = [];
  failures = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push({ text: msg.text(), url: page.url() });
  });
  page.on('pageerror', (err) => consoleErrors.push({ text: String(err), url: page.url() }));
  page.on('response', async (response) => {
    const request = response.request();
    if (response.status() >= 400) failures.push({ url: response.url(), status: response.status() });
    if (request.isNavigationRequest() && request.frame() === page.mainFrame()) {
      navigations.push({ url: response.url(), status: response.status(), headers: await response.allHeaders() });
    }
  });
  return {};
}

function describe(response) {
  return response ? { url: response.url(), status: response.status() } : null;
}

const commands = {
  new_context: newContext,
  goto: async ({ url }) => describe(await page.goto(url, { waitUntil: 'load' })),
  fill: async ({ selector, value }) => page.fill(selector, value),
  click: async ({ selector }) => {
    await page.click(selector);
    await page.waitForLoadState('load');
    return { url: page.url() };
  },
  select: async ({ selector, value }) => page.selectOption(selector, value),
  wait_for_url: async ({ pattern, timeout }) => {
    await page.waitForURL(new RegExp(pattern), { timeout: timeout ?? 15000 });
    await page.waitForLoadState('load');
    return { url: page.url() };
  },
  url: async () => page.url(),
  text: async ({ selector }) => page.innerText(selector || 'body'),
  attribute: async ({ selector, name }) => page.getAttribute(selector, name),
  count: async ({ selector }) => page.locator(selector).count(),
  content: async () => page.content(),
  screenshot: async ({ path, fullPage }) => {
    await page.screenshot({ path, fullPage: fullPage !== false });
    return path;
  },
  cookies: async () => context.cookies(),
  add_cookies: async ({ cookies }) => context.addCookies(cookies),
  clear_cookies: async () => context.clearCookies(),
  console_errors: async () => consoleErrors,
  last_response: async () => navigations[navigations.length - 1] || null,
  navigations: async () => navigations,
  failures: async () => failures,
  // A request from the context (its cookies go with it), as a forged cross-form or a scripted client would send.
  close: async () => null,
  request: async ({ method, url, form, headers }) => {
    const response = await context.request.fetch(url, { method, form, headers, maxRedirects: 0 });
    return { status: response.status(), headers: response.headers(), body: await response.text() };
  },
};

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  const { id, cmd, args } = JSON.parse(line);
  let answer;
  try {
    const handler = commands[cmd];
    if (!handler) throw new Error(`unknown command ${cmd}`);
    const result = await handler(args || {});
    answer = { id, ok: true, result: result === undefined ? null : result };
  } catch (err) {
    answer = { id, ok: false, error: String(err && err.message ? err.message : err).slice(0, 2000) };
  }
  process.stdout.write(JSON.stringify(answer) + '\n');
  if (cmd === 'close') break;
}
await browser.close();

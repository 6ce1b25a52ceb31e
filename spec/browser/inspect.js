// The inspector in a real browser: Debian's Chromium, headless, driven by playwright-core
// (pinned in package.json; no browser download: executablePath /usr/bin/chromium). It plays
// a new user: opens /ui/ with the account's Basic credentials, reads the lists, talks to the
// random-number flow in the conversation panel (with the keyboard), watches the execution
// appear, opens its timeline, looks at the graph, asks for the replay spec, then calls the
// phone menu and answers with the keypad, and hangs up a second call. Every request the
// page makes is recorded; any that is not for 127.0.0.1 is refused and reported.
//
//   node spec/browser/inspect.js CONFIG_JSON
//     CONFIG: {base, account_sid, auth_token, out_dir, chromium?, random_flow, phone_flow}
//
// Prints one JSON line: {ok, error?, step?, observed: {...}, requests: [urls], outside: [urls],
// console_errors: [...], screenshots: [paths]}. Exit status 0 when it could run (the spec
// judges what it observed), 1 when the browser could not start.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const cfg = JSON.parse(process.argv[2]);
const STEP_TIMEOUT_MS = 15000;    // one wait for the page (a live update, a reply)
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const observed = {};
const requests = [];
const outside = [];
const consoleErrors = [];
const screenshots = [];
let step = 'launch';

function localUrl(u) {
  try {
    const url = new URL(u);
    if (url.protocol === 'data:' || url.protocol === 'blob:' || url.protocol === 'about:') return true;
    return url.hostname === '127.0.0.1';
  } catch (e) { return false; }
}

async function shot(page, name, opts) {
  const file = path.join(cfg.out_dir, name);
  await page.screenshot(Object.assign({ path: file }, opts || {}));
  screenshots.push(file);
}

async function chatHas(page, text) {
  await page.waitForFunction((t) => Array.from(document.querySelectorAll('#chat li'))
    .some((li) => li.textContent.indexOf(t) >= 0), text, { timeout: STEP_TIMEOUT_MS });
}

async function main() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'rivulet-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: cfg.chromium || '/usr/bin/chromium', headless: true, args: FLAGS,
      httpCredentials: { username: cfg.account_sid, password: cfg.auth_token },
      viewport: { width: 1500, height: 1000 }, timeout: 30000,
    });
  } catch (e) {
    console.log(JSON.stringify({ ok: false, launch_failed: true, error: String(e && e.message || e) }));
    fs.rmSync(profile, { recursive: true, force: true });
    process.exit(1);
  }
  await context.route('**/*', (route) => {
    const u = route.request().url();
    if (localUrl(u)) return route.continue();
    outside.push(u);
    return route.abort();
  });
  context.on('request', (r) => requests.push(r.url()));
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  try {
    step = 'load the page';
    await page.goto(cfg.base + '/ui/');
    await page.waitForSelector('body[data-ready="true"]');
    observed.title = await page.title();
    observed.flows = await page.$$eval('#flows button', (bs) => bs.map((b) => b.firstChild.textContent));
    observed.execs_before = await page.$$eval('#exec-table tbody tr', (rs) => rs.length);

    step = 'accessibility: labels and names';
    observed.unlabelled = await page.evaluate(() => {
      const bad = [];
      document.querySelectorAll('input, select').forEach((e) => {
        if (!(e.labels && e.labels.length) && !e.getAttribute('aria-label')) bad.push(e.id || e.name || e.outerHTML);
      });
      document.querySelectorAll('button').forEach((b) => {
        if (!(b.textContent.trim() || b.getAttribute('aria-label'))) bad.push(b.outerHTML);
      });
      return bad;
    });

    step = 'open the random-number flow';
    await page.click('#flows button:has-text("' + cfg.random_flow + '")');
    await page.waitForSelector('#graph .node[data-name="get_num"]');
    observed.graph_nodes = await page.$$eval('#graph .node', (ns) => ns.map((n) => n.getAttribute('data-name')));
    await shot(page, 'inspector-flow.png');

    step = 'talk to the random-number flow with the keyboard';
    await page.selectOption('#t-flow', { label: cfg.random_flow });
    await page.focus('#t-body');
    for (const [say, expect] of [['hi', 'What is the minimum number?'], ['1', 'What is the maximum number?'],
                                 ['6', 'Your random number is']]) {
      await page.keyboard.type(say);
      await page.keyboard.press('Enter');
      await chatHas(page, expect);
    }
    observed.chat = await page.$$eval('#chat li', (ls) => ls.map((l) => l.className + ': ' + l.textContent));

    step = 'watch the execution appear (live update, no reload)';
    await page.waitForFunction(() => Array.from(document.querySelectorAll('#exec-table tbody tr'))
      .some((tr) => tr.textContent.indexOf('ended') >= 0 && tr.textContent.indexOf('send_num') >= 0));
    observed.exec_rows = await page.$$eval('#exec-table tbody tr', (rs) => rs.map((r) => r.textContent));
    await page.waitForFunction(() => {
      const e = document.querySelector('#graph .edge[data-from="get_num"][data-to="send_num"]');
      return e && e.getAttribute('data-n') === '1';
    });
    observed.edges = await page.$$eval('#graph .edge', (es) => es.map((e) =>
      [e.getAttribute('data-from'), e.getAttribute('data-to'), Number(e.getAttribute('data-n'))]));

    step = 'open the timeline';
    await page.click('#exec-table tbody tr button');
    await page.waitForFunction(() => document.querySelectorAll('#steps li.step').length >= 5);
    observed.steps = await page.$$eval('#steps li.step', (ls) => ls.map((l) =>
      [l.getAttribute('data-from'), l.getAttribute('data-event'), l.getAttribute('data-to')]));
    observed.http = await page.$$eval('#steps .http', (hs) => hs.map((h) => h.textContent));
    observed.changes = await page.$$eval('#steps li.step', (ls) => ls.map((l) =>
      Array.from(l.querySelectorAll('.changes tbody tr td:first-child')).map((td) => td.textContent)));
    observed.focus_after_open = await page.evaluate(() => document.activeElement && document.activeElement.id);
    observed.path_edges = await page.$$eval('#graph .node.on-path', (ns) => ns.map((n) => n.getAttribute('data-name')));
    await shot(page, 'inspector-timeline.png', { fullPage: true });

    step = 'the graph by keyboard';
    await page.focus('#graph .node[data-name="get_num"]');
    await page.keyboard.press('Enter');
    observed.node_info = await page.textContent('#node-info');
    observed.node_focused = await page.evaluate(() => document.activeElement.getAttribute('data-name'));

    step = 'replay as a spec';
    await page.click('#replay');
    await page.waitForFunction(() => document.querySelector('#spec').textContent.indexOf('cases') >= 0);
    observed.spec = await page.textContent('#spec');
    observed.spec_download = await page.getAttribute('#spec-download', 'href');

    step = 'call the phone menu and press 1';
    await page.selectOption('#t-flow', { label: cfg.phone_flow });
    await page.click('#call-start');
    await chatHas(page, 'Thanks for calling Corner Books.');
    await page.waitForFunction(() => document.querySelector('#call-state').textContent.indexOf('listens') >= 0);
    observed.call_state_menu = await page.textContent('#call-state');
    await shot(page, 'inspector-call.png');
    await page.click('#keypad button[aria-label="key 1"]');
    await chatHas(page, 'We are open nine to six');
    await page.waitForFunction(() => document.querySelector('#call-state').textContent.indexOf('ended') >= 0);
    observed.call_state_end = await page.textContent('#call-state');

    step = 'a second call: press 2, then hang up while connected';
    await page.click('#call-start');
    await page.waitForFunction(() => document.querySelector('#call-state').textContent.indexOf('listens') >= 0);
    await page.fill('#call-input', '2');
    await page.press('#call-input', 'Enter');
    await page.waitForSelector('#call-outcomes button');
    observed.outcomes = await page.$$eval('#call-outcomes button', (bs) => bs.map((b) => b.textContent));
    await page.click('#call-hangup');
    await page.waitForFunction(() => document.querySelector('#call-state').textContent.indexOf('ended') >= 0);
    observed.chat_after_calls = await page.$$eval('#chat li', (ls) => ls.map((l) => l.textContent));
    await shot(page, 'inspector-page.png', { fullPage: true });
    observed.live = await page.textContent('#live');
    step = 'done';
  } catch (e) {
    observed.failed_at = step;
    observed.error = String(e && e.message || e);
    try { await shot(page, 'inspector-failure.png', { fullPage: true }); } catch (e2) { /* the page is gone */ }
  }
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
  console.log(JSON.stringify({ ok: step === 'done', step, observed, requests, outside,
    console_errors: consoleErrors, screenshots }));
}

main().catch((e) => {
  console.log(JSON.stringify({ ok: false, step, error: String(e && e.stack || e), observed, requests, outside }));
  process.exit(1);
});

// The dashboard (GET /ui) in a real browser: Debian's chromium, driven by playwright-core (no
// browser download). Run by tests/api/ui.rs against a gateway it started on a real PostgreSQL:
//
//   node tools/ui-test/dashboard.test.mjs <gateway url> <admin token>
//
// Signs in with the token, submits jobs through the API, watches a slow job's bar move in the
// list, opens the job, cancels it from the page (confirming the dialog) and sees its row turn
// `cancelled`; checks the counts panel, that the page logged no console error and that no request
// left 127.0.0.1. Waits poll the page with a deadline, never a fixed sleep. On failure it saves a
// screenshot under target/ui-test/ and prints where. PROCGATE_UI_SCREENSHOTS=<dir> also saves the
// README's pictures (dashboard-list.png, dashboard-job.png) there.

import { mkdtempSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const DEADLINE_MS = 30_000;
// The bar of a PROC_TEST_PROGRESS job runs from 50 to 80 while the procedure reports 0..100 %.
const PAST = 55;

const [base, token] = process.argv.slice(2);
if (!base || !token) {
  console.error('usage: node dashboard.test.mjs <gateway url> <admin token>');
  process.exit(2);
}
if (!existsSync(CHROMIUM)) {
  console.error(`ui-test: no chromium at ${CHROMIUM}: install it with \`apt-get install chromium\` (scripts/test.sh does)`);
  process.exit(2);
}
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const artifacts = join(root, 'target/ui-test');
const screenshots = process.env.PROCGATE_UI_SCREENSHOTS;
const origin = new URL(base).origin;

const log = (text) => console.log(`ui-test: ${text}`);

/** Submits a job through the API (not the page), returns its id. */
async function submit(name, params) {
  const response = await fetch(`${base}/procedure/async`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ name, params }),
  });
  const body = await response.json();
  if (response.status !== 202) throw new Error(`submitting ${name} answered ${response.status}: ${JSON.stringify(body)}`);
  return body.job_id;
}

async function jobStatus(id) {
  const response = await fetch(`${base}/jobs/${id}`, { headers: { Authorization: `Bearer ${token}` } });
  return (await response.json()).status;
}

/** Waits until `predicate(arg)`, evaluated in the page, holds; `what` names it on timeout. */
async function until(page, what, predicate, arg) {
  try {
    await page.waitForFunction(predicate, arg, { timeout: DEADLINE_MS, polling: 100 });
  } catch (error) {
    throw new Error(`waited ${DEADLINE_MS / 1000} s for ${what}: ${error.message.split('\n')[0]}`);
  }
}

const profile = mkdtempSync(join(tmpdir(), 'procgate-ui-test-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  viewport: { width: 1360, height: 860 },
});
context.setDefaultTimeout(DEADLINE_MS);
const problems = [];
const foreign = [];
// Nothing may leave the gateway's own address: such a request is recorded and refused.
await context.route((url) => url.origin !== origin, (route) => {
  foreign.push(route.request().url());
  return route.abort();
});
const page = context.pages()[0] ?? (await context.newPage());
// Every answer of 400 or more is a problem, but the two probes of what the gateway can do: 404 for
// GET /stats and for a retry of a job that cannot exist (see ui/api.js). Chrome also logs each
// such answer as a console error ("Failed to load resource"): those are judged here instead.
const PROBES = [/^\/stats$/, /^\/jobs\/0{32}\/retry$/];
page.on('response', (response) => {
  const path = new URL(response.url()).pathname;
  if (response.status() >= 400 && !(response.status() === 404 && PROBES.some((p) => p.test(path)))) {
    problems.push(`${response.status()} for ${response.request().method()} ${response.url()}`);
  }
});
page.on('console', (message) => {
  if (message.type() === 'error' && !message.text().startsWith('Failed to load resource: the server responded')) {
    problems.push(`console: ${message.text()}`);
  }
});
page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));

let failed = false;
try {
  log(`opening ${base}/ui`);
  await page.goto(`${base}/ui`);
  const tokenField = page.getByLabel('API token');
  await tokenField.fill(token);
  await tokenField.press('Enter');
  await page.locator('#dashboard').waitFor();
  log('signed in');

  // A job of each ending, then the slow one.
  const done = await submit('PROC_TEST', [{ name: 'p_input', value: 'ui' }]);
  const broken = await submit('PROC_TEST_ERROR', [{ name: 'p_should_fail', value: 1 }]);
  const slow = await submit('PROC_TEST_PROGRESS', [{ name: 'p_items', value: 20 }, { name: 'p_seconds', value: 16 }]);
  log(`submitted ${slow} (PROC_TEST_PROGRESS, 20 items over 16 s)`);

  const row = `tr[data-job-id="${slow}"]`;
  await until(page, 'the slow job to show as running in the list',
    (row) => document.querySelector(`${row} [data-field="status"]`)?.textContent === 'running', row);
  const first = await page.locator(`${row} progress`).evaluate((bar) => bar.value);
  await until(page, `its bar to move from ${first} past ${PAST}`,
    ({ row, past }) => document.querySelector(`${row} progress`).value > past, { row, past: Math.max(first, PAST) });
  const moved = await page.locator(`${row} progress`).evaluate((bar) => bar.value);
  log(`the bar moved from ${first} to ${moved}`);
  await until(page, 'its message to show the procedure\'s report',
    (row) => /^item \d+ of 20$/.test(document.querySelector(`${row} [data-field="message"]`).textContent), row);

  await until(page, 'the counts to show the running, completed and failed jobs', () => {
    const n = (name) => Number(document.querySelector(`[data-count="${name}"]`).textContent.replace(/[^0-9]/g, ''));
    return n('running') >= 1 && n('completed') >= 1 && n('failed') >= 1;
  }, null);
  for (const id of [done, broken]) {
    await until(page, `job ${id} to show its ending`,
      (row) => ['completed', 'failed'].includes(document.querySelector(`${row} [data-field="status"]`)?.textContent),
      `tr[data-job-id="${id}"]`);
  }
  log('counts and list are live');
  if (screenshots) await page.screenshot({ path: join(screenshots, 'dashboard-list.png') });

  await page.locator(row).getByRole('link').click();
  await until(page, 'the detail to open with the job\'s started event',
    (slow) => !document.querySelector('#detail').hidden && location.hash === `#/jobs/${slow}`
      && [...document.querySelectorAll('#detail-events li')].some((li) => li.textContent.includes('started')), slow);
  await until(page, 'the detail to show the parameters',
    () => document.querySelector('#detail-params').textContent.includes('"p_items": 20'), null);
  await until(page, 'the detail to show progress events',
    () => [...document.querySelectorAll('#detail-events li')].some((li) => /progress.*item \d+ of 20/.test(li.textContent)), null);
  log('the detail shows the parameters and the event timeline');
  if (screenshots) await page.screenshot({ path: join(screenshots, 'dashboard-job.png'), fullPage: true });

  await page.locator('#detail').getByRole('button', { name: 'Cancel job' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  await dialog.getByRole('button', { name: 'Cancel job' }).click();
  await until(page, 'the row to turn cancelled',
    (row) => document.querySelector(`${row} [data-field="status"]`)?.textContent === 'cancelled', row);
  await until(page, 'the detail to say cancelled',
    () => document.querySelector('#detail [data-field="status"]')?.textContent === 'cancelled'
      && document.querySelector('#detail-outcome').textContent.startsWith('cancelled:'), null);
  await until(page, 'the counts to show the cancelled job',
    () => Number(document.querySelector('[data-count="cancelled"]').textContent) >= 1, null);
  const status = await jobStatus(slow);
  if (status !== 'cancelled') throw new Error(`the API says the job is ${status}, not cancelled`);
  log('cancelled from the page: the row and the API say cancelled');

  if (foreign.length) throw new Error(`requests left ${origin}: ${foreign.join(', ')}`);
  if (problems.length) throw new Error(`the page logged errors:\n  ${problems.join('\n  ')}`);
  log('no console error, no request outside the gateway');
} catch (error) {
  failed = true;
  console.error(`ui-test: FAILED: ${error.message}`);
  if (problems.length) console.error(`ui-test: the page logged:\n  ${problems.join('\n  ')}`);
  try {
    mkdirSync(artifacts, { recursive: true });
    const path = join(artifacts, `dashboard-failure-${Date.now()}.png`);
    await page.screenshot({ path, fullPage: true });
    console.error(`ui-test: screenshot saved to ${path}`);
  } catch (shot) {
    console.error(`ui-test: no screenshot: ${shot.message}`);
  }
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);

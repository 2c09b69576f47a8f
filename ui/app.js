// The dashboard's screens: sign-in, counts by state, the job list (filtered, paged by cursor, live), and a
// job's detail with its event timeline and actions. Live updates come from GET /events (see
// sse.js); while that stream is down, the page polls. Everything shown is built with DOM calls
// and textContent, never from HTML strings, so no value from the API can inject markup.

import * as api from './api.js';
import { follow } from './sse.js';

const PAGE_SIZE = 20;
const POLL_MS = 5000;
const ENDED = new Set(['completed', 'failed', 'cancelled']);
const LAST_EVENTS = new Set(['completed', 'failed', 'cancelled', 'deleted']);

const $ = (selector) => document.querySelector(selector);

const state = {
  filter: { status: '', procedure: '', owner: '' },
  // The `cursor` of each page before the one shown (`GET /jobs`'s `next`); empty: the first page.
  cursors: [],
  next: null,
  total: 0,
  admin: null,
  canRetry: false,
  rows: new Map(),
  feed: null,
  live: 'off',
  detail: null,
  poller: null,
  entering: false,
};

// ---- small helpers ----

/** An element with attributes and children (strings become text nodes). */
function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== null && value !== false) element.setAttribute(name, value === true ? '' : value);
  }
  element.append(...children.flat().filter((c) => c !== undefined && c !== null && c !== false));
  return element;
}

const short = (id) => id.slice(0, 8);
const when = (iso) => (iso ? new Date(iso).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' }) : '—');
const timeElement = (iso) => (iso ? h('time', { datetime: iso }, when(iso)) : '—');

/** Runs `fn` once, `ms` after the first of a burst of calls. */
function soon(fn, ms) {
  let timer = null;
  return () => {
    timer ??= setTimeout(() => { timer = null; fn(); }, ms);
  };
}

function announce(text) {
  $('#announcer').textContent = text;
}

function showNotice(text) {
  $('#notice').textContent = text;
  $('#notice').hidden = false;
}

function showError(error) {
  if (error instanceof api.ApiError && error.status === 401) {
    signOut('The gateway refused this token: sign in again.');
  } else if (error instanceof api.ApiError) {
    showNotice(`${error.message} (${error.code})`);
  } else {
    showNotice(`Cannot reach the gateway: ${error.message}`);
  }
}

const clearError = () => { $('#notice').hidden = true; };

/** A job's line of text beside its bar: its own report while it runs, its error once ended. */
function messageOf(job) {
  if (job.status === 'failed' || job.status === 'cancelled') return job.error?.message ?? '';
  if (job.status === 'completed') return job.duration ? `took ${job.duration}` : '';
  return job.report?.message ?? '';
}

// ---- sign-in ----

function signOut(reason) {
  api.token.clear();
  state.feed?.close();
  state.feed = null;
  closeDetail(false);
  clearInterval(state.poller);
  $('#dashboard').hidden = true;
  $('#sign-out').hidden = true;
  // Nothing of the last token's stays on the page.
  state.admin = null;
  state.rows = new Map();
  $('#job-rows').replaceChildren();
  for (const element of document.querySelectorAll('[data-needs="admin"]')) element.hidden = true;
  $('#scope').textContent = '';
  setLive('off');
  $('#sign-in').hidden = false;
  if (reason) showNotice(reason);
  else clearError();
  $('#token').value = '';
  $('#token').focus();
}

async function enter() {
  if (state.entering) return;
  state.entering = true;
  try {
    // The counts double as the token's check: a 401 here sends the user back to sign-in.
    const counts = await api.counts();
    state.canRetry = await api.canRetry();
    clearError();
    $('#sign-in').hidden = true;
    $('#dashboard').hidden = false;
    $('#sign-out').hidden = false;
    renderCounts(counts);
    await refreshList();
    openFeed();
    state.poller = setInterval(() => { if (state.live !== 'open') refreshAll(); }, POLL_MS);
    route();
  } catch (error) {
    if ($('#dashboard').hidden) $('#sign-in').hidden = false;
    showError(error);
  } finally {
    state.entering = false;
  }
}

// ---- counts ----

function renderCounts(counts) {
  for (const element of document.querySelectorAll('[data-count]')) {
    const name = element.dataset.count;
    const n = counts.states[name];
    const estimated = counts.estimated?.includes(name);
    element.textContent = n === undefined || n === null ? '–' : `${estimated ? '~' : ''}${n.toLocaleString()}`;
  }
  for (const element of document.querySelectorAll('[data-needs="stats"]')) element.hidden = counts.source !== 'stats';
  const rates = $('#rates');
  rates.hidden = !counts.completed;
  if (counts.completed) {
    rates.textContent = `Last 5 minutes: ${counts.completed['5m']} completed, ${counts.failed['5m']} failed.`;
  }
  if (counts.admin !== null && counts.admin !== state.admin) {
    state.admin = counts.admin;
    for (const element of document.querySelectorAll('[data-needs="admin"]')) element.hidden = !state.admin;
    $('#scope').textContent = state.admin ? 'Admin: every owner’s jobs' : 'Your jobs';
  }
}

async function refreshCounts() {
  try {
    renderCounts(await api.counts());
  } catch (error) {
    if ($('#dashboard').hidden) $('#sign-in').hidden = false;
    showError(error);
  } finally {
    state.entering = false;
  }
}

// ---- the job list ----

function jobRow(job) {
  return h('tr', { 'data-job-id': job.id },
    h('td', { 'data-label': 'Job' },
      h('a', { href: `#/jobs/${job.id}`, 'aria-label': `Job ${short(job.id)}` }, h('code', {}, short(job.id)))),
    h('td', { 'data-label': 'Procedure' }, job.procedure_name),
    h('td', { 'data-label': 'Status' }, h('span', { class: `status status-${job.status}`, 'data-field': 'status' }, job.status)),
    h('td', { 'data-label': 'Progress', class: 'progress-cell' },
      h('progress', { max: 100, value: job.progress, 'aria-label': `Progress of job ${short(job.id)}` }),
      h('span', { class: 'percent', 'data-field': 'percent' }, `${job.progress}%`),
      h('span', { class: 'message', 'data-field': 'message' }, messageOf(job))),
    h('td', { 'data-label': 'Owner' }, job.owner ?? '—'),
    h('td', { 'data-label': 'Created' }, timeElement(job.created_at)));
}

/** Updates a row in place (its status, bar and message): focus and screen-reader position stay. */
function updateRow(row, { status, progress, message }) {
  const badge = row.querySelector('[data-field="status"]');
  if (status && badge.textContent !== status) {
    badge.textContent = status;
    badge.className = `status status-${status}`;
  }
  if (typeof progress === 'number') {
    row.querySelector('progress').value = progress;
    row.querySelector('[data-field="percent"]').textContent = `${progress}%`;
  }
  if (message !== undefined) row.querySelector('[data-field="message"]').textContent = message;
}

async function refreshList() {
  let page;
  try {
    page = await api.listJobs({ ...state.filter, limit: PAGE_SIZE, cursor: state.cursors.at(-1) });
  } catch (error) {
    showError(error);
    return;
  }
  state.total = page.total;
  const ids = page.jobs.map((j) => j.id);
  const sameRows = ids.length === state.rows.size && ids.every((id, i) => [...state.rows.keys()][i] === id);
  if (sameRows) {
    for (const job of page.jobs) updateRow(state.rows.get(job.id), { ...job, message: messageOf(job) });
  } else {
    const focused = document.activeElement?.closest('tr[data-job-id]')?.dataset.jobId;
    state.rows = new Map(page.jobs.map((job) => [job.id, jobRow(job)]));
    $('#job-rows').replaceChildren(...state.rows.values());
    if (focused) state.rows.get(focused)?.querySelector('a').focus();
  }
  $('#no-jobs').hidden = page.jobs.length > 0;
  const skipped = state.cursors.length * PAGE_SIZE;
  const first = page.jobs.length ? skipped + 1 : 0;
  // Above LIST_TOTAL_CAP the gateway estimates the total (total_exact false).
  const total = `${page.total_exact === false ? 'about ' : ''}${page.total.toLocaleString()}`;
  $('#page-info').textContent = page.total ? `${first}–${skipped + page.jobs.length} of ${total}` : '';
  state.next = page.next ?? null;
  $('#prev').disabled = state.cursors.length === 0;
  $('#next').disabled = !state.next;
}

function applyFilter(status) {
  const form = $('#filters');
  if (status !== undefined) form.elements.status.value = status;
  state.filter = {
    status: form.elements.status.value,
    procedure: form.elements.procedure.value.trim(),
    owner: state.admin ? form.elements.owner.value.trim() : '',
  };
  state.cursors = [];
  refreshList().then(() => announce(`${state.total} jobs match.`));
}

// However busy the queue, a burst of events costs one refresh a second.
const refreshCountsSoon = soon(refreshCounts, 1000);
const refreshListSoon = soon(refreshList, 1000);

function refreshAll() {
  refreshCounts();
  refreshList();
  if (state.detail) reloadDetail();
}

// ---- live events ----

function setLive(live) {
  state.live = live;
  const labels = {
    off: 'Not connected',
    open: 'Live',
    reconnecting: 'Reconnecting…',
    failed: 'Live updates unavailable: refreshing every 5 s',
  };
  const element = $('#live');
  element.dataset.state = live;
  element.textContent = labels[live] ?? live;
}

function openFeed() {
  state.feed = follow('/events', {
    token: api.token.get(),
    onState: (live, status) => {
      if (live === 'failed' && status === 401) signOut('The gateway refused this token: sign in again.');
      else setLive(live);
      // Back after a gap: the replay covers events, a refresh covers what was missed before.
      if (live === 'open') refreshAll();
    },
    onEvent: ({ data }) => onFeedEvent(JSON.parse(data)),
  });
}

function onFeedEvent(event) {
  const row = state.rows.get(event.job_id);
  if (row) {
    const message = event.report?.message ?? event.error?.message;
    updateRow(row, { status: event.status, progress: event.progress, message });
    if (ENDED.has(event.type)) announce(`Job ${short(event.job_id)} ${event.type}.`);
  }
  // Progress moves bars only; any other event changes counts and maybe the list's rows.
  if (event.type !== 'progress') {
    refreshCountsSoon();
    refreshListSoon();
  }
}

// ---- a job's detail ----

function route() {
  const match = /^#\/jobs\/([0-9a-f]{32})$/.exec(location.hash);
  if (match) openDetail(match[1]);
  else if (['', '#', '#/'].includes(location.hash)) closeDetail(true);
}

async function openDetail(id) {
  if (state.detail?.id === id || $('#dashboard').hidden) return;
  closeDetail(false);
  let job;
  try {
    job = await api.getJob(id);
  } catch (error) {
    showError(error);
    return;
  }
  state.detail = { id, job, seen: new Set(), stream: null };
  $('#detail-events').replaceChildren();
  renderDetail(job);
  $('#detail').hidden = false;
  $('#main').classList.add('with-detail');
  $('#detail-title').focus();
  state.detail.stream = follow(`/jobs/${id}/events`, {
    token: api.token.get(),
    isLast: (event) => LAST_EVENTS.has(event.type),
    onEvent: ({ data }) => onJobEvent(JSON.parse(data)),
  });
}

function closeDetail(restoreFocus) {
  const detail = state.detail;
  if (!detail) return;
  detail.stream?.close();
  state.detail = null;
  $('#detail').hidden = true;
  $('#main').classList.remove('with-detail');
  if (restoreFocus) (state.rows.get(detail.id)?.querySelector('a') ?? $('#jobs')).focus();
}

async function reloadDetail() {
  const detail = state.detail;
  try {
    const job = await api.getJob(detail.id);
    if (state.detail === detail) renderDetail(job);
  } catch (error) {
    if (!(error instanceof api.ApiError && error.code === 'job_not_found')) showError(error);
  }
}

const reloadDetailSoon = soon(() => state.detail && reloadDetail(), 300);

function onJobEvent(event) {
  const detail = state.detail;
  if (!detail || detail.id !== event.job_id || detail.seen.has(event.event_id)) return;
  detail.seen.add(event.event_id);
  const said = event.report?.message ?? event.error?.message ?? '';
  $('#detail-events').append(h('li', { class: `event event-${event.type}` },
    timeElement(event.at), ' ', h('strong', {}, event.type),
    event.attempt ? ` · attempt ${event.attempt}` : '',
    ` · ${event.progress}%`,
    said ? ` · ${said}` : ''));
  showDetailProgress(event.progress, event.report?.message);
  if (event.type === 'deleted') {
    for (const button of document.querySelectorAll('[data-action]')) button.hidden = true;
    announce(`Job ${short(event.job_id)} was deleted.`);
  } else if (event.type !== 'progress') {
    reloadDetailSoon();
  }
}

/** The detail's bar and the text beside it; a missing `message` keeps the last one. */
function showDetailProgress(progress, message) {
  $('#detail-progress').value = progress;
  $('#detail-percent').textContent = `${progress}%`;
  if (message !== undefined) $('#detail-message').textContent = message;
}

function renderDetail(job) {
  state.detail.job = job;
  $('#detail-title').textContent = `Job ${short(job.id)} · ${job.procedure_name}`;
  $('#detail-progress').setAttribute('aria-label', `Progress of job ${short(job.id)}`);
  showDetailProgress(job.progress, messageOf(job));

  const fields = [
    ['ID', h('code', {}, job.id)],
    ['Status', h('span', { class: `status status-${job.status}`, 'data-field': 'status' }, job.status)],
    ['Owner', job.owner ?? '—'],
    ['Priority', job.priority],
    ['Attempts', `${job.attempts} of ${job.max_attempts}`],
    ['Created', timeElement(job.created_at)],
    ['Runs at', timeElement(job.run_at)],
    ['Started', timeElement(job.start_time)],
    ['Ended', timeElement(job.end_time)],
    ['Duration', job.duration ?? '—'],
    ['Instance', job.instance_id ?? '—'],
  ];
  if (job.retry_of) fields.push(['Retry of', h('a', { href: `#/jobs/${job.retry_of}` }, short(job.retry_of))]);
  if (job.cancel_requested) fields.push(['Cancel', 'requested, waiting for the call to stop']);
  $('#detail-fields').replaceChildren(...fields.flatMap(([name, value]) => [h('dt', {}, name), h('dd', {}, value)]));

  $('#detail-params').textContent = JSON.stringify(job.params, null, 2);
  if (job.error) {
    $('#detail-outcome-title').textContent = 'Error';
    $('#detail-outcome').textContent = `${job.error.code}: ${job.error.message}`;
  } else {
    $('#detail-outcome-title').textContent = 'Result';
    $('#detail-outcome').textContent = job.result ? JSON.stringify(job.result, null, 2) : 'None yet.';
  }
  const attempts = job.attempt_history ?? [];
  $('#no-attempts').hidden = attempts.length > 0;
  $('#detail-attempts').replaceChildren(...attempts.map((a) => h('li', {},
    h('strong', {}, `Attempt ${a.attempt}`), ` ${a.code}: ${a.message} `,
    h('span', { class: 'muted' }, `(${when(a.started_at)} → ${when(a.ended_at)}, ${a.instance_id ?? 'unknown instance'})`))));
  $('#detail-output').textContent = job.output === null || job.output === undefined
    ? 'Not captured (submit the job with "capture_output": true).'
    : job.output.length ? job.output.join('\n') : 'No output.';

  const active = job.status === 'pending' || job.status === 'running';
  $('[data-action="cancel"]').hidden = !active;
  $('[data-action="retry"]').hidden = !(state.canRetry && (job.status === 'failed' || job.status === 'cancelled'));
  $('[data-action="delete"]').hidden = false;
}

// ---- actions ----

/** Asks in a modal dialog; resolves to whether the user confirmed. */
function confirmAction(title, text, confirmLabel) {
  const dialog = $('#confirm');
  $('#confirm-title').textContent = title;
  $('#confirm-text').textContent = text;
  $('#confirm-yes').textContent = confirmLabel;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'yes'), { once: true });
  });
}

async function act(button) {
  const { job } = state.detail;
  const kind = button.dataset.action;
  const name = `${job.procedure_name} (job ${short(job.id)})`;
  const questions = {
    cancel: ['Cancel this job?', `${name} will not run, or its running call is interrupted; its progress is kept.`, 'Cancel job'],
    retry: ['Retry this job?', `${name} runs again as a new job, with the same parameters and options.`, 'Retry job'],
    delete: ['Delete this job?', `${name} and its history are removed${job.status === 'running' ? ', after its call is cancelled' : ''}. This cannot be undone.`, 'Delete job'],
  };
  if (!(await confirmAction(...questions[kind]))) return;
  button.disabled = true;
  try {
    if (kind === 'cancel') {
      const ended = await api.cancelJob(job.id);
      announce(ended.status === 'cancelled' ? `Job ${short(job.id)} cancelled.` : `Cancel requested for job ${short(job.id)}.`);
      if (state.detail?.id === job.id) renderDetail(ended);
    } else if (kind === 'retry') {
      const accepted = await api.retryJob(job.id);
      announce(`Job ${short(job.id)} retried as job ${short(accepted.job_id)}.`);
      location.hash = `#/jobs/${accepted.job_id}`;
    } else {
      await api.deleteJob(job.id);
      announce(`Job ${short(job.id)} deleted.`);
      location.hash = '#';
    }
    clearError();
  } catch (error) {
    if (kind === 'retry' && error instanceof api.ApiError && error.noSuchEndpoint) {
      state.canRetry = false;
      button.hidden = true;
    }
    showError(error);
  } finally {
    button.disabled = false;
    refreshCountsSoon();
    refreshListSoon();
  }
}

// ---- wiring ----

function wire() {
  $('#token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const value = $('#token').value.trim();
    if (!value) return;
    api.token.set(value);
    enter();
  });
  $('#sign-out').addEventListener('click', () => signOut());
  $('#filters').addEventListener('submit', (event) => { event.preventDefault(); applyFilter(); });
  $('#filters').elements.status.addEventListener('change', () => applyFilter());
  $('#counts').addEventListener('click', (event) => {
    const button = event.target.closest('button[data-filter]');
    if (button) applyFilter(button.dataset.filter);
  });
  $('#prev').addEventListener('click', () => { state.cursors.pop(); refreshList(); });
  $('#next').addEventListener('click', () => {
    if (!state.next) return;
    state.cursors.push(state.next);
    refreshList();
  });
  $('#detail').addEventListener('click', (event) => {
    const button = event.target.closest('button[data-action]');
    if (button) act(button);
  });
  window.addEventListener('hashchange', route);
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && state.detail && !$('#confirm').open) location.hash = '#';
  });
}

wire();
if (api.token.get()) enter();
else signOut();

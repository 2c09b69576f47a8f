// The gateway's HTTP API as the dashboard uses it: the token (kept in sessionStorage, so it goes
// with the tab), JSON requests carrying it as a Bearer header, typed errors, and what this
// gateway can do (GET /stats and POST /jobs/{id}/retry may be missing on an older one).

const TOKEN_KEY = 'procgate.token';
const STATES = ['pending', 'running', 'completed', 'failed', 'cancelled'];

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** An error answer: the HTTP status and the gateway's `{"error": {"code", "message"}}`. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }

  /** The route itself is missing (an older gateway), as opposed to a missing job. */
  get noSuchEndpoint() {
    return this.status === 405 || (this.status === 404 && this.code === 'not_found');
  }
}

/** `method path?query` with the token; resolves to the JSON body, throws an ApiError. */
export async function request(method, path, query = {}) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(name, value);
  }
  const url = params.size ? `${path}?${params}` : path;
  const response = await fetch(url, {
    method,
    headers: { Authorization: `Bearer ${token.get()}`, Accept: 'application/json' },
    cache: 'no-store',
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const error = body?.error ?? {};
    throw new ApiError(response.status, error.code ?? `http_${response.status}`, error.message ?? response.statusText);
  }
  return body;
}

export const listJobs = (filter) => request('GET', '/jobs', filter);
export const getJob = (id) => request('GET', `/jobs/${id}`);
export const cancelJob = (id) => request('POST', `/jobs/${id}/cancel`);
export const retryJob = (id) => request('POST', `/jobs/${id}/retry`);
export const deleteJob = (id) => request('DELETE', `/jobs/${id}`);

let hasStats = true;

/**
 * Counts by state: `GET /stats` where the gateway has it (with `delayed`, rates and whether the
 * token is an admin's), else one `GET /jobs?status=X&limit=1` per state, read for its `total`.
 */
export async function counts() {
  if (hasStats) {
    try {
      return fromStats(await request('GET', '/stats'));
    } catch (error) {
      if (!(error instanceof ApiError && error.noSuchEndpoint)) throw error;
      hasStats = false;
    }
  }
  const totals = await Promise.all(STATES.map((status) => listJobs({ status, limit: 1 }).then((r) => r.total)));
  return { source: 'jobs', admin: null, states: Object.fromEntries(STATES.map((s, i) => [s, totals[i]])) };
}

function fromStats(stats) {
  const jobs = stats.jobs;
  // Ended states are {count, estimated}; the others plain numbers.
  const count = (state) => (typeof jobs[state] === 'object' ? jobs[state]?.count : jobs[state]);
  return {
    source: 'stats',
    admin: stats.scope === 'all',
    states: Object.fromEntries([...STATES, 'delayed'].map((s) => [s, count(s)])),
    estimated: STATES.filter((s) => jobs[s]?.estimated),
    completed: stats.completed,
    failed: stats.failed,
  };
}

/**
 * Whether this gateway retries jobs: a retry of an id no job has (never generated: not a v4
 * UUID) answers `404 job_not_found` where the route exists, `404 not_found` or 405 where not.
 */
export async function canRetry() {
  try {
    await retryJob('0'.repeat(32));
    return true;
  } catch (error) {
    return !(error instanceof ApiError && error.noSuchEndpoint);
  }
}

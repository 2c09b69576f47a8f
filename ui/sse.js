// Server-Sent Events read through fetch(). EventSource cannot send an Authorization header, and a
// token in the URL would land in access logs and history, so the stream is requested with the
// header and its text/event-stream body is parsed here. A dropped stream reconnects with
// Last-Event-ID, which the gateway answers with exactly the events after that one.

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 10_000;

/**
 * Follows the stream at `url` until `close()`, or until `isLast(event)` says the stream is over.
 * `onEvent({id, type, data})` gets each event; `onState(state, error)` hears 'open',
 * 'reconnecting', 'ended' and 'failed' (a 4xx answer: retrying would get the same).
 */
export function follow(url, { token, onEvent, onState = () => {}, isLast = () => false }) {
  const control = new AbortController();
  let lastId = null;
  let delay = FIRST_RETRY_MS;

  (async () => {
    while (!control.signal.aborted) {
      try {
        const headers = { Accept: 'text/event-stream', Authorization: `Bearer ${token}` };
        if (lastId !== null) headers['Last-Event-ID'] = lastId;
        const response = await fetch(url, { headers, signal: control.signal, cache: 'no-store' });
        if (response.status >= 400 && response.status < 500) {
          onState('failed', response.status);
          return;
        }
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        onState('open');
        delay = FIRST_RETRY_MS;
        for await (const event of parse(response.body)) {
          if (event.id !== null) lastId = event.id;
          // The gateway's `error` event: its database failed under the stream; reconnect.
          if (event.type === 'error') break;
          onEvent(event);
          if (isLast(event)) {
            onState('ended');
            return;
          }
        }
      } catch (error) {
        if (control.signal.aborted) return;
      }
      onState('reconnecting');
      await pause(delay, control.signal);
      delay = Math.min(delay * 2, MAX_RETRY_MS);
    }
  })();

  return { close: () => control.abort() };
}

/** The events of a text/event-stream body (the WHATWG format; `retry:` is not used). */
export async function* parse(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let id = null;
  let type = '';
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    const lines = buffer.split(/\r\n|\n|\r(?!$)/);
    // The last piece may be a line still arriving.
    buffer = lines.pop();
    for (const line of lines) {
      if (line === '') {
        if (data.length > 0) yield { id, type: type || 'message', data: data.join('\n') };
        type = '';
        data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let text = colon < 0 ? '' : line.slice(colon + 1);
      if (text.startsWith(' ')) text = text.slice(1);
      if (field === 'event') type = text;
      else if (field === 'data') data.push(text);
      else if (field === 'id' && !text.includes('\0')) id = text;
    }
  }
}

function pause(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

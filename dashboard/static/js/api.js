// The read-only JSON API. Paths are relative so the page also works behind a path prefix.

// A request the agent has not answered by then fails, so that the page's polling goes on: an awaited
// fetch that never settles would stop every refresh after it (dashboard/static/js/main.js, refreshForever).
export const REQUEST_TIMEOUT_MS = 10000;

async function answerOf(url) {
  const response = await fetch(url, {
    headers: { Accept: 'application/json' }, cache: 'no-store', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  if (!response.ok) {
    // the API names what was wrong in {"error": ...}
    const reason = await response.json().then((body) => body.error, () => null);
    throw new Error(reason ? `${reason} (${response.status})` : `${url} answered ${response.status} ${response.statusText}`);
  }
  return await response.json();
}

async function getJSON(path, params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined) query.set(key, String(value));
  }
  const url = query.toString() ? `${path}?${query}` : path;
  try {
    return await answerOf(url);
  } catch (error) {
    // the timeout may strike while the headers or the body are on their way
    if (error.name === 'TimeoutError') throw new Error(`${url} not answered within ${REQUEST_TIMEOUT_MS / 1000} s`);
    throw error;
  }
}

// `at` is a unix time in seconds to read from history, or null for now.
export const fetchGraph = (at) => getJSON('api/graph', { at });

// Details of now, or of the replayed moment `at` (as kept in the agent's history).
export const fetchService = (service, namespace, at) => getJSON(`api/services/${encodeURIComponent(service)}`, { namespace, at });

export const fetchEdge = (edge, at) => getJSON('api/edges', {
  client: edge.client,
  server: edge.server,
  client_namespace: edge.client_namespace,
  server_namespace: edge.server_namespace,
  at,
});

// Edges new, vanished and changed since `baseline` (unix seconds; null: an hour ago).
export const fetchChanges = (baseline) => getJSON('api/changes', { baseline });

// Throughput and errors over the history, and the containers' events.
export const fetchTimeline = () => getJSON('api/timeline');

// The read-only JSON API. Paths are relative so the page also works behind a path prefix.

async function getJSON(path, params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined) query.set(key, String(value));
  }
  const url = query.toString() ? `${path}?${query}` : path;
  const response = await fetch(url, { headers: { Accept: 'application/json' }, cache: 'no-store' });
  if (!response.ok) {
    // the API names what was wrong in {"error": ...}
    const reason = await response.json().then((body) => body.error, () => null);
    throw new Error(reason ? `${reason} (${response.status})` : `${url} answered ${response.status} ${response.statusText}`);
  }
  return response.json();
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

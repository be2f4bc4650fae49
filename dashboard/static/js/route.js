// The URL fragment holds what is on screen, so a link opens the same view and the back button works:
//   #/                          global view
//   #/<namespace>               region view
//   #/<namespace>/<service>     focused view
// with optional ?service=<name> or ?client=<a>&server=<b> for the details panel, ?at=<unix seconds> to replay,
// ?min=<req/s> for the rate filter and ?changes=hour (or =<unix seconds>, a marked moment) to show what
// changed against that baseline.

export const serviceSelection = (name) => ({ kind: 'service', name });
export const edgeSelection = (client, server) => ({ kind: 'edge', client, server });

export function parseRoute(hash) {
  const text = hash.replace(/^#\/?/, '');
  const cut = text.indexOf('?');
  const path = cut < 0 ? text : text.slice(0, cut);
  const params = new URLSearchParams(cut < 0 ? '' : text.slice(cut + 1));
  const view = path.split('/').filter(Boolean).map(decodeURIComponent).slice(0, 2);
  let selection = null;
  if (params.get('service')) selection = serviceSelection(params.get('service'));
  else if (params.get('client') && params.get('server')) selection = edgeSelection(params.get('client'), params.get('server'));
  const at = Number.parseInt(params.get('at'), 10);
  const minRate = Number(params.get('min'));
  const marked = Number.parseInt(params.get('changes'), 10);
  let changes = null;
  if (params.get('changes') === 'hour') changes = 'hour';
  else if (Number.isFinite(marked) && marked > 0) changes = marked;
  return {
    view,
    selection,
    at: Number.isFinite(at) && at > 0 ? at : null,
    minRate: Number.isFinite(minRate) && minRate > 0 ? minRate : 0,
    changes,
  };
}

export function formatRoute({
  view, selection, at, minRate, changes,
}) {
  const params = new URLSearchParams();
  if (selection && selection.kind === 'service') params.set('service', selection.name);
  if (selection && selection.kind === 'edge') {
    params.set('client', selection.client);
    params.set('server', selection.server);
  }
  if (at) params.set('at', String(at));
  if (minRate > 0) params.set('min', String(minRate));
  if (changes) params.set('changes', String(changes));
  const query = params.toString();
  return `#/${view.map(encodeURIComponent).join('/')}${query ? `?${query}` : ''}`;
}

export const sameView = (a, b) => a.length === b.length && a.every((name, i) => name === b[i]);

export function sameSelection(a, b) {
  if (!a || !b) return a === b;
  return a.kind === b.kind && a.name === b.name && a.client === b.client && a.server === b.server;
}

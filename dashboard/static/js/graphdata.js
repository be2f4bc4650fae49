// The /api/graph tree: made safe for Vizceral, and read for the page's own lists.

export const INTERNET = 'INTERNET';

const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

// Undo the HTML escapes the server put in notice text, with string replacement: no HTML parser ever
// sees it.
export function unescapeHtml(text) {
  return String(text).replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, name) => {
    if (name[0] === '#') {
      const code = name[1] === 'x' || name[1] === 'X' ? Number.parseInt(name.slice(2), 16) : Number.parseInt(name.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[name.toLowerCase()] ?? whole;
  });
}

const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// Re-escape after unescaping, so a notice is exactly one level escaped however it arrived, and drop
// links: an escaped "javascript:" URL is still a link.
function safeNotice(notice) {
  const safe = { title: escapeHtml(unescapeHtml(notice.title ?? '')), severity: notice.severity ?? 0 };
  if (notice.subtitle) safe.subtitle = escapeHtml(unescapeHtml(notice.subtitle));
  return safe;
}

function makeNoticesSafe(item) {
  if (Array.isArray(item.notices)) item.notices = item.notices.map(safeNotice);
}

// Mutates the freshly fetched tree in place: safe notices everywhere, every region on the global view
// even without traffic between regions (Vizceral hides nodes without connections, except `focused`
// ones), and every service in a region drillable into Vizceral's focused view.
export function prepareForVizceral(graph) {
  makeNoticesSafe(graph);
  (graph.connections ?? []).forEach(makeNoticesSafe);
  (graph.nodes ?? []).forEach((node) => { node.focused = true; });
  for (const region of regions(graph)) {
    makeNoticesSafe(region);
    (region.connections ?? []).forEach(makeNoticesSafe);
    for (const service of region.nodes) {
      makeNoticesSafe(service);
      if (!service.renderer) service.renderer = 'focusedChild';
    }
  }
  return graph;
}

export const regions = (graph) => (graph.nodes ?? []).filter((node) => Array.isArray(node.nodes));

export const findRegion = (graph, name) => regions(graph).find((region) => region.name === name);

// What changed last: the graph's own `updated` (epoch ms) when the API sends one, else nothing.
export function updatedStamp(graph) {
  const stamps = [graph, ...regions(graph)].map((g) => g.updated).filter((u) => typeof u === 'number');
  return stamps.length ? Math.max(...stamps) : null;
}

const volume = (connection) => Object.values(connection.metrics ?? {}).reduce((sum, v) => sum + (Number(v) || 0), 0);

// Nodes of one view with the request rate flowing into each (out of it, for an entry node).
export function nodesInView(graph, view) {
  let level = graph;
  let names = null;
  if (view.length >= 1) level = findRegion(graph, view[0]) ?? { nodes: [], connections: [] };
  if (view.length === 2) {
    const focus = view[1];
    names = new Set([focus]);
    for (const c of level.connections ?? []) {
      if (c.source === focus) names.add(c.target);
      if (c.target === focus) names.add(c.source);
    }
  }
  const connections = level.connections ?? [];
  return (level.nodes ?? [])
    .filter((node) => !names || names.has(node.name))
    .map((node) => {
      const incoming = connections.filter((c) => c.target === node.name).reduce((s, c) => s + volume(c), 0);
      const outgoing = connections.filter((c) => c.source === node.name).reduce((s, c) => s + volume(c), 0);
      return { name: node.name, cls: node.class ?? 'normal', rate: incoming || outgoing };
    });
}

// Every service of every region, for search: a region also draws the peers it talks to in other
// namespaces, named "namespace/service"; only its own services are listed under it.
export const allServices = (graph) =>
  regions(graph).flatMap((region) => region.nodes
    .filter((node) => node.name !== INTERNET && (node.metadata?.namespace ?? region.name) === region.name)
    .map((node) => ({ name: node.name, region: region.name, cls: node.class ?? 'normal' })));

// The service and namespace a node of a region view stands for, as the API names them.
export function serviceOf(graph, view, nodeName) {
  const region = graph && view.length ? findRegion(graph, view[0]) : null;
  const node = region ? region.nodes.find((n) => n.name === nodeName) : null;
  const meta = node?.metadata ?? {};
  return { service: meta.service ?? nodeName, namespace: meta.namespace ?? (nodeName === INTERNET ? '' : view[0] ?? '') };
}

// The node that stands for a service in a region view (the inverse of serviceOf).
export function nodeNameOf(view, service, namespace) {
  return service === INTERNET || !namespace || namespace === view[0] ? service : `${namespace}/${service}`;
}

// A node's connections in a region view, from the graph alone (INTERNET has no API record).
export function connectionsOf(graph, view, nodeName) {
  const region = graph && view.length ? findRegion(graph, view[0]) : null;
  const connections = region?.connections ?? [];
  const summary = (c) => ({ client: c.source, server: c.target, perSecond: volume(c), danger: Number(c.metrics?.danger) || 0 });
  return {
    incoming: connections.filter((c) => c.target === nodeName).map(summary),
    outgoing: connections.filter((c) => c.source === nodeName).map(summary),
  };
}

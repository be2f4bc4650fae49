// The /api/graph tree: made safe for Vizceral, and read for the page's own lists.

import { percent, seconds } from './format.js';

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

// What the agent says of a node or connection: rps, error_rate, p99_seconds, state (live or ghost),
// last_seen, last_rps, latency_warning.
export const factsOf = (item) => item?.metadata?.intuition ?? {};

export const isGhost = (item) => factsOf(item).state === 'ghost';

// Safe notices, and ghosts (silent since, kept on the map) in their own colour.
function prepareItem(item) {
  makeNoticesSafe(item);
  if (isGhost(item)) item.class = 'ghost';
}

// Mutates the freshly fetched tree in place: safe notices everywhere, every region on the global view
// even without traffic between regions (Vizceral hides nodes without connections, except `focused`
// ones), and every service in a region drillable into Vizceral's focused view.
export function prepareForVizceral(graph) {
  makeNoticesSafe(graph);
  (graph.connections ?? []).forEach(prepareItem);
  (graph.nodes ?? []).forEach((node) => { node.focused = true; });
  for (const region of regions(graph)) {
    prepareItem(region);
    (region.connections ?? []).forEach(prepareItem);
    for (const service of region.nodes) {
      prepareItem(service);
      if (!service.renderer) service.renderer = 'focusedChild';
    }
  }
  return graph;
}

// The level of the tree a view draws: the global graph, or a region (the focused view draws its region).
export function levelOf(graph, view) {
  if (!graph) return { nodes: [], connections: [] };
  return view.length ? findRegion(graph, view[0]) ?? { nodes: [], connections: [] } : graph;
}

// The node or connection a map selection names, as the API sent it.
export function itemOf(graph, view, selection) {
  const level = levelOf(graph, view);
  if (selection.kind === 'service') return (level.nodes ?? []).find((n) => n.name === selection.name) ?? null;
  return (level.connections ?? []).find((c) => c.source === selection.client && c.target === selection.server) ?? null;
}

const MARK_NOTICES = {
  new: 'new since the baseline',
  vanished: 'gone since the baseline',
};

// Marks what changed against the baseline (an /api/changes answer) on every region that draws it:
// new and changed edges get metadata.mark; a vanished edge the graph no longer holds comes back as a
// ghost edge without traffic, with its missing ends as ghost nodes.
export function markChanges(graph, changes) {
  const kinds = [['new', changes.new], ['changed', changes.changed], ['vanished', changes.vanished]];
  for (const region of regions(graph)) {
    const view = [region.name];
    region.connections = region.connections ?? [];
    for (const [mark, edges] of kinds) {
      for (const edge of edges ?? []) {
        if (edge.client_namespace !== region.name && edge.server_namespace !== region.name) continue;
        const source = nodeNameOf(view, edge.client, edge.client_namespace);
        const target = nodeNameOf(view, edge.server, edge.server_namespace);
        let connection = region.connections.find((c) => c.source === source && c.target === target);
        if (!connection && mark !== 'vanished') continue;
        if (!connection) {
          for (const name of [source, target]) {
            if (!region.nodes.some((n) => n.name === name)) {
              region.nodes.push({
                name, class: 'ghost', renderer: 'focusedChild', metadata: { service: name === source ? edge.client : edge.server, namespace: name === source ? edge.client_namespace : edge.server_namespace },
              });
            }
          }
          connection = { source, target, metrics: {}, notices: [] };
          region.connections.push(connection);
        }
        connection.metadata = { ...(connection.metadata ?? {}), mark, change: edge };
        const title = MARK_NOTICES[mark] ?? changeText(edge);
        connection.notices = [...(connection.notices ?? []), { title: escapeHtml(title), severity: mark === 'new' ? 0 : 1 }];
      }
    }
  }
  return graph;
}

// "error rate 1% → 20%, p95 12 ms → 80 ms" for a changed edge.
function changeText(edge) {
  const parts = [];
  if (Array.isArray(edge.error_rate)) parts.push(`error rate ${percent(edge.error_rate[0])} → ${percent(edge.error_rate[1])}`);
  if (Array.isArray(edge.p95_seconds)) parts.push(`p95 ${seconds(edge.p95_seconds[0])} → ${seconds(edge.p95_seconds[1])}`);
  return `changed: ${parts.join(', ')}`;
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

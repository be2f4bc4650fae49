// Wires the page together. The URL (route.js) is the single record of what is on screen: every user
// action becomes a route, and the map, panel, breadcrumbs and timeline are drawn from it.

import { fetchGraph } from './api.js';
import { clock } from './format.js';
import { Freshness } from './freshness.js';
import {
  INTERNET, allServices, connectionsOf, findRegion, nodeNameOf, prepareForVizceral, regions, serviceOf, updatedStamp,
} from './graphdata.js';
import { ServiceMap } from './map.js';
import { DetailsPanel } from './panel.js';
import {
  edgeSelection, formatRoute, parseRoute, sameSelection, sameView, serviceSelection,
} from './route.js';
import { ServiceSearch } from './search.js';
import { Timeline } from './timeline.js';
import { renderBreadcrumbs, renderSummary } from './viewtext.js';

const REFRESH_MS = 2000;
const $ = (id) => document.getElementById(id);

let route = parseRoute(window.location.hash);
let graph = null;
let map = null;
let failure = null; // why the graph of the replayed time could not be loaded

const freshness = new Freshness($('freshness'));
const panel = new DetailsPanel($('details'), {
  open: (identity) => navigate({ ...route, selection: selectionOf(identity) }),
  onClose: () => navigate({ ...route, selection: null }),
  onFocus: () => navigate({ ...route, view: [...route.view, route.selection.name], selection: null }),
});
const timeline = new Timeline($('history'), $('live'), $('history-label'), {
  onSeek: (at) => navigate({ ...route, at }),
});
const search = new ServiceSearch($('search'), $('search-results'), {
  onQuery: (text) => map && map.locate(text),
  onPick: (service) => navigate({ ...route, view: [service.region], selection: serviceSelection(service.name) }),
});

// In the focused view the panel shows the focused service unless an edge is picked.
function panelSelection() {
  return route.selection ?? (route.view.length === 2 ? serviceSelection(route.view[1]) : null);
}

// What the panel asks the API for: the map's node names turned into services and namespaces.
function detailsTarget() {
  const selection = panelSelection();
  if (!selection) return null;
  if (selection.kind === 'service') {
    const { service, namespace } = serviceOf(graph, route.view, selection.name);
    if (service !== INTERNET) return { kind: 'service', service, namespace };
    return { kind: 'service', service, namespace, edges: connectionsOf(graph, route.view, selection.name) };
  }
  const client = serviceOf(graph, route.view, selection.client);
  const server = serviceOf(graph, route.view, selection.server);
  return {
    kind: 'edge', client: client.service, client_namespace: client.namespace, server: server.service, server_namespace: server.namespace,
  };
}

// The inverse, for a service or edge the panel links to.
function selectionOf(identity) {
  const node = (service, namespace) => nodeNameOf(route.view, service, namespace);
  if (identity.kind === 'service') return serviceSelection(node(identity.service, identity.namespace));
  return edgeSelection(node(identity.client, identity.client_namespace), node(identity.server, identity.server_namespace));
}

// A service picked in a region view can be opened in Vizceral's focused view.
function canFocus() {
  return route.view.length === 1 && route.selection?.kind === 'service';
}

// Said over the map when it has nothing to draw.
function message() {
  if (failure) return failure;
  if (!graph) return null;
  if (regions(graph).length === 0) return route.at ? 'Nothing was recorded at that time.' : 'No traffic seen yet.';
  const region = route.view.length ? findRegion(graph, route.view[0]) : null;
  if (region && (region.connections ?? []).length === 0) {
    return `No traffic in ${region.name} ${route.at ? 'at that time' : 'right now'}.`;
  }
  return null;
}

function showMessage(text) {
  $('map-message').hidden = !text;
  $('map-message').textContent = text ?? '';
}

function render() {
  showMessage(message());
  renderBreadcrumbs($('breadcrumbs'), route.view, route.at);
  renderSummary($('map-summary'), graph, route.view);
  panel.show(detailsTarget(), route.at, canFocus());
  timeline.set(route.at);
  freshness.replaying(route.at);
  document.title = ['Intuition', ...route.view].join(' / ');
}

// Record a new route in the browser history: a new view is a new entry (back returns to the previous
// view), a new selection or time replaces the current one.
function record(next) {
  const hash = formatRoute(next);
  if (hash === window.location.hash) return;
  if (sameView(next.view, route.view)) window.history.replaceState(null, '', hash);
  else window.history.pushState(null, '', hash);
}

function apply(next) {
  const timeChanged = next.at !== route.at;
  route = next;
  render();
  if (map) map.show(route.view, route.selection);
  if (timeChanged) {
    failure = null; // a replay's error does not outlive its moment
    refresh();
  }
}

function navigate(next) {
  record(next);
  apply(next);
}

function followUrl() {
  const next = parseRoute(window.location.hash);
  if (formatRoute(next) !== formatRoute(route)) apply(next);
}

// Changes the map made itself. A click on the canvas is recorded like any navigation; a view Vizceral
// redirected (the URL named a namespace or service that does not exist) replaces the bad entry.
function onViewChanged(view, byUser) {
  if (sameView(view, route.view)) return;
  const next = { ...route, view, selection: null };
  if (byUser) record(next);
  else window.history.replaceState(null, '', formatRoute(next));
  route = next;
  render();
}

function onSelectionChanged(selection) {
  if (sameSelection(selection, route.selection)) return;
  const next = { ...route, selection };
  record(next);
  route = next;
  render();
}

async function refresh() {
  const at = route.at;
  try {
    const data = prepareForVizceral(await fetchGraph(at));
    if (at !== route.at) return; // the user moved in time while this was loading
    graph = data;
    map.update(data);
    freshness.received(updatedStamp(data));
    search.setServices(allServices(data));
    timeline.setHistory(data.metadata?.history);
    failure = null;
    render();
  } catch (error) {
    freshness.failed(error);
    if (at && at === route.at) {
      failure = `Nothing to replay at ${clock(at)}: ${error.message}`;
      render();
    }
  }
}

async function refreshForever() {
  await refresh();
  window.setTimeout(refreshForever, REFRESH_MS);
}

function onKey(event) {
  if (event.key !== 'Escape' || event.target.closest('input')) return;
  if (route.selection) navigate({ ...route, selection: null });
  else if (route.view.length > 0) navigate({ ...route, view: route.view.slice(0, -1) });
}

function start() {
  try {
    map = new ServiceMap($('map-canvas'), { onViewChanged, onSelectionChanged });
  } catch (error) {
    showMessage(`This browser cannot draw the map: ${error.message}`);
    return;
  }
  $('min-rate').addEventListener('input', (event) => {
    const value = Number(event.target.value);
    map.setMinRate(Number.isFinite(value) && value > 0 ? value : 0);
  });
  window.addEventListener('popstate', followUrl);
  window.addEventListener('hashchange', followUrl);
  document.addEventListener('keydown', onKey);
  window.history.replaceState(null, '', formatRoute(route));
  map.show(route.view, route.selection);
  render();
  refreshForever();
}

start();

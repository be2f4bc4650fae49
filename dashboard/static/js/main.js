// Wires the page together. The URL (route.js) is the single record of what is on screen: every user
// action becomes a route, and the map, panel, breadcrumbs and timeline are drawn from it.

import { fetchChanges, fetchGraph, fetchTimeline } from './api.js';
import { clock } from './format.js';
import { Freshness } from './freshness.js';
import {
  INTERNET, allServices, connectionsOf, findRegion, itemOf, levelOf, markChanges, nodeNameOf, prepareForVizceral, regions,
  serviceOf, updatedStamp,
} from './graphdata.js';
import { HoverCard } from './hovercard.js';
import { ServiceMap } from './map.js';
import { MarkOverlay } from './overlay.js';
import { DetailsPanel } from './panel.js';
import {
  edgeSelection, formatRoute, parseRoute, sameSelection, sameView, serviceSelection,
} from './route.js';
import { ServiceSearch } from './search.js';
import { Timeline } from './timeline.js';
import { renderBreadcrumbs, renderSummary } from './viewtext.js';

const REFRESH_MS = 2000;
const TIMELINE_EVERY = 5; // refreshes: the timeline's points are interval_seconds apart
const $ = (id) => document.getElementById(id);

let route = parseRoute(window.location.hash);
let graph = null;
let map = null;
let failure = null; // why the graph of the replayed time could not be loaded
let frozen = null; // why the data on screen is not live, or null
let changes = null; // the /api/changes answer for route.changes
let changesError = null;
let refreshes = 0;

const freshness = new Freshness($('freshness'), {
  onFrozen: (reason) => {
    frozen = reason;
    if (map) map.setFrozen(Boolean(reason));
    panel.setFrozen(reason);
    render();
  },
});
const hoverCard = new HoverCard($('hover-card'));
const overlay = new MarkOverlay($('map-marks'));
const panel = new DetailsPanel($('details'), {
  open: (identity) => navigate({ ...route, selection: selectionOf(identity) }),
  onClose: () => navigate({ ...route, selection: null }),
  onFocus: () => navigate({ ...route, view: [...route.view, route.selection.name], selection: null }),
});
const timeline = new Timeline($('history'), $('live'), $('history-label'), $('history-chart'), {
  onSeek: (at) => navigate({ ...route, at }),
});
const search = new ServiceSearch($('search'), $('search-results'), {
  onQuery: (text) => map && map.locate(text, route.view, route.selection),
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
  if (route.view.length && !findRegion(graph, route.view[0])) return null; // Vizceral redirects to the global view
  if (regions(graph).length === 0) return route.at ? 'Nothing was recorded at that time.' : 'No traffic seen yet.';
  const region = route.view.length ? findRegion(graph, route.view[0]) : null;
  if (region && (region.connections ?? []).length === 0) {
    return `No traffic in ${region.name} ${route.at ? 'at that time' : 'right now'}.`;
  }
  if (map && map.hidden.length && map.hidden.length === Object.keys(map.viz.currentGraph?.connections ?? {}).length) {
    return `Every edge here is under ${route.minRate} req/s: the filter hides them all.`;
  }
  return null;
}

function showMessage(text) {
  $('map-message').hidden = !text;
  $('map-message').textContent = text ?? '';
}

// Over the map: frozen data, and the baseline of the changes shown.
function renderBanner() {
  let text = frozen;
  if (!text && route.changes) {
    if (changesError) text = `Changes: ${changesError}`;
    else if (changes) {
      text = `Changes since ${clock(changes.baseline)}: ${changes.new.length} new, ${changes.vanished.length} gone, `
        + `${changes.changed.length} changed edges`;
    }
  }
  $('map-banner').hidden = !text;
  $('map-banner').textContent = text ?? '';
  $('map-banner').dataset.kind = frozen ? 'frozen' : 'changes';
  document.body.classList.toggle('frozen', Boolean(frozen));
}

// The filter says what it hides, and never hides trouble.
function renderFilter() {
  const input = $('min-rate');
  if (document.activeElement !== input && Number(input.value) !== route.minRate) input.value = String(route.minRate);
  const hidden = map ? map.hidden.length : 0;
  $('filter-note').textContent = route.minRate > 0
    ? `hides ${hidden} quiet edge${hidden === 1 ? '' : 's'}; failing ones stay` : '';
  $('filter-note').title = map ? map.hidden.join('\n') : '';
}

function renderChangesButton() {
  const button = $('changes');
  button.setAttribute('aria-pressed', String(Boolean(route.changes)));
  button.textContent = route.changes ? 'Hide changes' : 'What changed';
}

function render() {
  showMessage(message());
  renderBanner();
  renderFilter();
  renderChangesButton();
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
  const reload = next.at !== route.at || next.changes !== route.changes;
  if (next.at !== route.at) failure = null; // a replay's error does not outlive its moment
  if (next.changes !== route.changes) {
    changes = null;
    changesError = null;
  }
  route = next;
  if (map) {
    map.setMinRate(route.minRate);
    map.show(route.view, route.selection);
  }
  render();
  if (reload) refresh();
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

// The changes against the route's baseline, or null; an error is shown, never fatal to the map.
async function loadChanges(wanted) {
  if (!wanted) return null;
  try {
    const answer = await fetchChanges(wanted === 'hour' ? null : wanted);
    changesError = null;
    return answer;
  } catch (error) {
    changesError = error.message;
    return null;
  }
}

async function loadTimeline() {
  try {
    timeline.setSeries(await fetchTimeline());
  } catch (error) {
    timeline.setSeries(null, error);
  }
}

async function refresh() {
  const { at } = route;
  const wanted = route.changes;
  refreshes += 1;
  if (refreshes % TIMELINE_EVERY === 1) loadTimeline();
  try {
    const [fetched, changed] = await Promise.all([fetchGraph(at), loadChanges(wanted)]);
    if (at !== route.at || wanted !== route.changes) return; // the user moved while this was loading
    const data = prepareForVizceral(fetched);
    changes = changed;
    if (changed) markChanges(data, changed);
    graph = data;
    map.update(data);
    freshness.received(updatedStamp(data));
    search.setServices(allServices(data));
    timeline.setHistory(data.metadata?.history);
    failure = null;
    render();
  } catch (error) {
    if (at === null) freshness.failed(error);
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

function onHover(selection, x, y) {
  if (!selection || !graph) {
    hoverCard.hide();
    return;
  }
  const title = selection.kind === 'service' ? selection.name : `${selection.client} → ${selection.server}`;
  hoverCard.show(itemOf(graph, route.view, selection), title, x, y);
}

function onFrame() {
  overlay.draw(levelOf(graph, route.view), (name) => map.nodePoint(name));
}

// For the browser tests and the benchmark: what the map draws, read from the page itself.
function installTestHooks() {
  window.intuitionTestHooks = {
    dots: (connection) => map.dotCounts(connection),
    resetDots: (connection) => map.resetDotCounts(connection),
    frames: () => map.frameStats(),
    nodePoint: (name) => map.nodePoint(name),
    marks: () => overlay.lines,
  };
}

function start() {
  document.documentElement.dataset.map = 'started'; // the modules loaded (boot.js)
  try {
    map = new ServiceMap($('map-canvas'), {
      onViewChanged, onSelectionChanged, onHover, onFrame,
    });
  } catch (error) {
    showMessage(`This browser cannot draw the map: ${error.message}`);
    return;
  }
  installTestHooks();
  $('min-rate').addEventListener('input', (event) => {
    const value = Number(event.target.value);
    navigate({ ...route, minRate: Number.isFinite(value) && value > 0 ? value : 0 });
  });
  $('changes').addEventListener('click', () => navigate({ ...route, changes: route.changes ? null : 'hour' }));
  $('mark').addEventListener('click', () => navigate({ ...route, changes: Math.floor(Date.now() / 1000) }));
  window.addEventListener('popstate', followUrl);
  window.addEventListener('hashchange', followUrl);
  document.addEventListener('keydown', onKey);
  window.history.replaceState(null, '', formatRoute(route));
  map.setMinRate(route.minRate);
  map.show(route.view, route.selection);
  render();
  refreshForever();
}

start();

// The current view as text: breadcrumbs to go back up, and a list of what the canvas shows for screen
// readers (a canvas has no text of its own).

import { el } from './dom.js';
import { rate } from './format.js';
import { nodesInView } from './graphdata.js';
import { formatRoute } from './route.js';

export function renderBreadcrumbs(nav, view, at) {
  const levels = [{ label: 'all namespaces', view: [] }, ...view.map((name, i) => ({ label: name, view: view.slice(0, i + 1) }))];
  nav.replaceChildren(...levels.map((level, i) => (i === levels.length - 1
    ? el('span', { class: 'crumb current', 'aria-current': 'page' }, level.label)
    : el('a', { class: 'crumb', href: formatRoute({ view: level.view, selection: null, at }) }, level.label))));
}

export function renderSummary(list, graph, view) {
  const nodes = graph ? nodesInView(graph, view) : [];
  list.replaceChildren(...nodes.map((node) => el('li', { 'data-name': node.name, 'data-class': node.cls },
    node.name, `: ${rate(node.rate)} requests, ${node.cls}`)));
}

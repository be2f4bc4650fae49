// The details panel: a service (containers, edges in and out, notices) or an edge (access log on the link).
// It refetches while open so numbers stay live, and redraws only when the answer changed.

import { fetchEdge, fetchService } from './api.js';
import { el, table } from './dom.js';
import {
  age, bytesRate, clock, count, percent, rate, seconds, unixSeconds,
} from './format.js';
import { INTERNET } from './graphdata.js';

const SEVERITY_CLASS = ['info', 'warning', 'danger'];
const ms = (value) => (typeof value === 'number' ? seconds(value / 1000) : seconds(null));

function section(title, ...content) {
  return el('section', {}, el('h3', {}, title), ...content);
}

// A row of labelled figures: [[label, value], ...].
function figures(pairs) {
  return el('dl', { class: 'figures' }, pairs.map(([label, value]) => el('div', {}, el('dt', {}, label), el('dd', {}, value))));
}

const name = (text) => el('span', { class: 'name' }, text);
const classOf = (cls) => (cls && cls !== 'normal' ? `status-${cls}` : null);

function header(title, subtitle, ...extra) {
  return el('header', {}, el('h2', {}, title), el('p', { class: 'subtitle' }, subtitle), ...extra);
}

function notices(list) {
  if (!list || list.length === 0) return el('p', { class: 'empty' }, 'none');
  return el('ul', { class: 'notices' }, list.map((n) => el('li', { class: `severity-${SEVERITY_CLASS[n.severity] ?? 'info'}` }, n.title)));
}

function containersTable(containers, now) {
  return table(['name', 'image', 'state', 'node', 'uptime'], containers.map((c) => {
    const started = unixSeconds(c.started_at);
    return {
      cells: [el('span', { class: 'name', title: c.id }, c.name), name(c.image), c.state, c.node,
        c.state === 'running' && started ? age(now - started) : '–'],
      cls: c.state === 'running' ? null : 'muted',
    };
  }), 'no containers');
}

const edgeIdentity = (e) => ({
  kind: 'edge', client: e.client, client_namespace: e.client_namespace, server: e.server, server_namespace: e.server_namespace,
});

// An edge's latency percentiles: of its busiest protocol when it carries several.
function busiestLatency(byProtocol) {
  return Object.values(byProtocol ?? {}).sort((a, b) => b.count - a.count)[0] ?? {};
}

function edgesTable(peerHeading, edges, peerOf, open) {
  return table([peerHeading, 'req/s', 'errors', 'p50', 'p95', 'p99', 'bytes/s'], edges.map((e) => {
    const latency = busiestLatency(e.latency_ms);
    return {
      cells: [name(peerOf(e)), rate(e.requests_per_second), percent(e.error_ratio), ms(latency.p50), ms(latency.p95),
        ms(latency.p99), bytesRate(e.bytes_to_server_per_second + e.bytes_to_client_per_second)],
      cls: e.error_ratio > 0 ? 'has-errors' : null,
      onclick: () => open(edgeIdentity(e)),
    };
  }));
}

function servicePanel(service, { open, focus, now }) {
  return [
    header(service.name, `service in ${service.namespace}`,
      focus ? el('button', { type: 'button', class: 'focus', onclick: focus }, 'Focus') : null),
    section('Notices', notices(service.notices)),
    section(`Containers (${service.containers.length})`, containersTable(service.containers, now)),
    section('Incoming', edgesTable('from', service.incoming, (e) => e.client, open)),
    section('Outgoing', edgesTable('to', service.outgoing, (e) => e.server, open)),
  ];
}

// INTERNET is every peer outside the host's containers: no API record, only its edges on the map.
function internetPanel(edges, { open }) {
  const rows = (list, peerOf) => list.map((c) => ({
    cells: [name(peerOf(c)), rate(c.perSecond), percent(c.perSecond ? c.danger / c.perSecond : null)],
    cls: c.danger > 0 ? 'has-errors' : null,
    onclick: () => open({ kind: 'edge', client: c.client, server: c.server }),
  }));
  return [
    header(INTERNET, 'peers outside this host'),
    section('Incoming', table(['from', 'req/s', 'errors'], rows(edges.incoming, (c) => c.client))),
    section('Outgoing', table(['to', 'req/s', 'errors'], rows(edges.outgoing, (c) => c.server))),
  ];
}

// The cluster view (Prometheus) knows resets in all, not which way they went.
const resetFigures = (tcp) => (tcp.resets !== undefined ? [['resets', count(tcp.resets)]]
  : [['resets sent', count(tcp.resets_sent)], ['resets received', count(tcp.resets_received)]]);

function edgePanel(edge, { open }) {
  const tcp = edge.tcp_errors;
  const failures = tcp.connect_failures;
  const endpoint = (service, namespace) => el('button', {
    type: 'button', class: 'link', onclick: () => open({ kind: 'service', service, namespace }),
  }, service);
  return [
    el('header', {},
      el('h2', {}, endpoint(edge.client, edge.client_namespace), ' → ', endpoint(edge.server, edge.server_namespace)),
      el('p', { class: 'subtitle' }, `edge, as the ${edge.reporter} saw it, over the last ${edge.window_seconds} s`)),
    section('Requests', table(['protocol', 'status', 'req/s', 'total'], edge.requests.map((r) => ({
      cells: [r.protocol, r.status, rate(r.per_second), count(r.total)], cls: classOf(r.class),
    })), 'no requests parsed on this edge')),
    section('Latency', table(['protocol', 'p50', 'p95', 'p99'], Object.entries(edge.latency_ms).map(([protocol, l]) => ({
      cells: [protocol, ms(l.p50), ms(l.p95), ms(l.p99)],
    })), 'no requests timed')),
    section('Bytes', figures([
      ['client → server', bytesRate(edge.bytes.to_server_per_second)],
      ['server → client', bytesRate(edge.bytes.to_client_per_second)]])),
    section('Connections', figures([
      ['active', count(edge.connections.active)], ['opened', rate(edge.connections.opened_per_second)],
      ['opened in all', count(edge.connections.opened_total)], ['closed in all', count(edge.connections.closed_total)]])),
    section('TCP errors', figures([
      ['refused', count(failures.refused)], ['timed out', count(failures.timeout)], ['other', count(failures.other)],
      ['retransmits', count(tcp.retransmits)], ...resetFigures(tcp)]),
    edge.events.length ? table(['time', 'event'], edge.events.map((e) => ({
      cells: [clock(e.time), e.kind === 'reset' ? `reset ${e.direction}` : `connect failed: ${e.reason}`], cls: 'status-danger',
    }))) : null),
    section('Recent requests', table(['time', 'request', 'target', 'status', 'latency'], edge.samples.map((s) => ({
      cells: [clock(s.time), s.operation ?? '?', el('span', { class: 'target' }, s.target ?? s.parse_error ?? ''),
        [s.status, s.detail ? el('span', { class: 'detail' }, ` ${s.detail}`) : null], ms(s.latency_ms)],
    })), 'no samples yet')),
  ];
}

export class DetailsPanel {
  // open(identity): show another service {kind, service, namespace} or edge {kind, client, server, ...};
  // onClose(): the user closed the panel; onFocus(): open the service in the focused view.
  constructor(element, { open, onClose, onFocus }) {
    this.element = element;
    this.open = open;
    this.onClose = onClose;
    this.onFocus = onFocus;
    this.key = '';
    this.answer = '';
  }

  // target: what to show (see main.js), at: replay time or null, canFocus: offer the focused view.
  show(target, at, canFocus) {
    const key = JSON.stringify([target, at, canFocus]);
    if (key !== this.key) this.answer = '';
    this.key = key;
    this.target = target;
    this.at = at;
    this.canFocus = canFocus;
    this.element.hidden = !target;
    document.body.classList.toggle('details-open', Boolean(target)); // the map makes room for the panel
    if (!target) this.element.replaceChildren();
    else this.refresh();
  }

  async refresh() {
    const { key, target, at } = this;
    let data = null;
    let error = null;
    try {
      if (target.kind === 'edge') data = await fetchEdge(target);
      else if (target.service !== INTERNET) data = await fetchService(target.service, target.namespace);
    } catch (e) {
      error = e;
    }
    if (key !== this.key) return; // answered after the user moved on
    const answer = error ? `error ${error.message}` : JSON.stringify(data);
    if (answer === this.answer) return;
    this.answer = answer;
    this.render(error ? this.errorView(error) : this.dataView(data));
  }

  dataView(data) {
    const { open, target } = this;
    if (target.kind === 'edge') return edgePanel(data, { open });
    if (target.service === INTERNET) return internetPanel(target.edges, { open });
    const focus = this.canFocus ? this.onFocus : null;
    return servicePanel(data, { open, focus, now: this.at ?? Date.now() / 1000 });
  }

  errorView(error) {
    const { target } = this;
    const title = target.kind === 'edge' ? `${target.client} → ${target.server}` : target.service;
    return [header(title, target.kind), el('p', { class: 'error' }, `Could not load details: ${error.message}`)];
  }

  render(content) {
    const close = el('button', { type: 'button', class: 'close', 'aria-label': 'Close details', onclick: () => this.onClose() }, '×');
    const note = this.at ? [el('p', { class: 'replay-note' }, `The map replays ${clock(this.at)}; these details are of now.`)] : [];
    this.element.replaceChildren(close, ...content, ...note);
  }
}

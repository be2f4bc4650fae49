// The details panel: a service (containers, edges in and out, notices) or an edge (access log on the link).
// It refetches while open so numbers stay live, and redraws only when the answer changed, never while
// the user is selecting text in it or has paused it. In a replay it shows the replayed moment.

import { accessLog } from './accesslog.js';
import { fetchEdge, fetchService } from './api.js';
import { errorsSection } from './blast.js';
import { healthSection } from './health.js';
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
    errorsSection(service.errors, open),
    healthSection(service.containers),
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

function edgePanel(edge, { open, log }) {
  const tcp = edge.tcp_errors;
  const failures = tcp.connect_failures;
  const endpoint = (service, namespace) => el('button', {
    type: 'button', class: 'link', onclick: () => open({ kind: 'service', service, namespace }),
  }, service);
  return [
    el('header', {},
      el('h2', {}, endpoint(edge.client, edge.client_namespace), ' → ', endpoint(edge.server, edge.server_namespace)),
      el('p', { class: 'subtitle' }, `edge, as the ${edge.reporter} saw it, over the last ${edge.window_seconds} s`)),
    // samples or TCP events the kernel could not hand over: what is listed below is not all there was
    edge.incomplete ? section('Notices', notices([{ title: edge.incomplete_reason, severity: 1 }])) : null,
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
    section('Recent requests', ...log(edge.samples)),
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
    this.data = null;
    this.error = null;
    this.paused = false;
    this.frozen = null;
    this.log = { errorsOnly: false, expanded: new Set() };
    setInterval(() => { if (this.target) this.refresh(); }, 2000);
  }

  // reason: why the data is not live (said at the top of the panel), or null.
  setFrozen(reason) {
    this.frozen = reason;
    if (this.target && this.answer) this.redraw();
    if (this.target && !reason) this.refresh();
  }

  // target: what to show (see main.js), at: replay time or null, canFocus: offer the focused view.
  show(target, at, canFocus) {
    // INTERNET's edges come from the map and change with every refresh: the same panel still
    const key = JSON.stringify([target && { ...target, edges: undefined }, at, canFocus]);
    if (key === this.key) {
      this.target = target;
      return;
    }
    this.answer = '';
    this.paused = false;
    this.log.expanded.clear();
    this.key = key;
    this.target = target;
    this.at = at;
    this.canFocus = canFocus;
    this.element.hidden = !target;
    if (!target) this.element.replaceChildren();
    else this.refresh();
  }

  async refresh() {
    if (this.paused || this.frozen) return; // keep what is shown still
    const { key, target, at } = this;
    let data = null;
    let error = null;
    try {
      if (target.kind === 'edge') data = await fetchEdge(target, at);
      else if (target.service !== INTERNET) data = await fetchService(target.service, target.namespace, at);
    } catch (e) {
      error = e;
    }
    if (key !== this.key || this.paused) return; // answered after the user moved on, or paused
    const answer = error ? `error ${error.message}` : JSON.stringify(data ?? target.edges);
    if (answer === this.answer || this.selecting()) return;
    this.answer = answer;
    this.data = data;
    this.error = error;
    this.redraw();
  }

  // The user is selecting text in the panel (to copy it): a redraw would wipe the selection.
  selecting() {
    const selection = window.getSelection();
    return selection && !selection.isCollapsed && this.element.contains(selection.anchorNode);
  }

  redraw() {
    this.render(this.error ? this.errorView(this.error) : this.dataView(this.data));
  }

  dataView(data) {
    const { open, target } = this;
    const log = (samples) => accessLog(samples, this.log, () => this.redraw());
    if (target.kind === 'edge') return edgePanel(data, { open, log });
    if (target.service === INTERNET) return internetPanel(target.edges, { open });
    const focus = this.canFocus ? this.onFocus : null;
    return servicePanel(data, { open, focus, now: this.at ?? Date.now() / 1000 });
  }

  errorView(error) {
    const { target } = this;
    const title = target.kind === 'edge' ? `${target.client} → ${target.server}` : target.service;
    const text = this.at ? `Nothing recorded for it at ${clock(this.at)}: ${error.message}` : `Could not load details: ${error.message}`;
    return [header(title, target.kind), el('p', { class: 'error' }, text)];
  }

  togglePause() {
    this.paused = !this.paused;
    this.redraw();
    if (!this.paused) this.refresh();
  }

  render(content) {
    const close = el('button', { type: 'button', class: 'close', 'aria-label': 'Close details', onclick: () => this.onClose() }, '×');
    const pause = el('button', {
      type: 'button', class: 'pause', 'aria-pressed': String(this.paused), onclick: () => this.togglePause(),
    }, this.paused ? 'Resume' : 'Pause');
    const notes = [
      this.frozen ? el('p', { class: 'frozen-note' }, this.frozen) : null,
      this.at ? el('p', { class: 'replay-note' }, `Replay of ${clock(this.at)}: as the agent's history kept it.`) : null,
      this.paused ? el('p', { class: 'paused-note' }, 'Paused: these figures stay as they are until you resume.') : null,
    ];
    this.element.replaceChildren(close, pause, ...notes.filter(Boolean), ...content);
  }
}

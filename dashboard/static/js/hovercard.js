// The card under the pointer: what a node or edge carries now (requests/s, error %, p99), whether it
// is a ghost, new, changed or slow, and its notices. One card at a time, kept inside the window, wide enough to
// read; it replaces Vizceral's own notice popup, which wraps a word per line and stacks notices.

import { el } from './dom.js';
import { percent, rate, seconds } from './format.js';
import { factsOf, isGhost, unescapeHtml } from './graphdata.js';

const OFFSET = 16; // px from the pointer
const SEVERITY_CLASS = ['info', 'warning', 'danger'];

const volume = (metrics) => Object.values(metrics ?? {}).reduce((sum, v) => sum + (Number(v) || 0), 0);

// The figures of a node or connection: what the agent says of it, else what the metrics say.
function figures(item) {
  const facts = factsOf(item);
  const total = volume(item.metrics);
  const rps = facts.rps ?? (item.metrics ? total : null);
  const errors = facts.error_rate ?? (total ? (Number(item.metrics?.danger) || 0) / total : null);
  return `${rate(rps)} · ${percent(errors)} errors · p99 ${seconds(facts.p99_seconds ?? null)}`;
}

// Short words for what the notices then say in full.
function badges(item) {
  const mark = item.metadata?.mark;
  return [
    (isGhost(item) || mark === 'vanished') && 'ghost',
    mark === 'new' && 'new',
    mark === 'changed' && 'changed',
    factsOf(item).latency_warning && 'slow',
  ].filter(Boolean);
}

export class HoverCard {
  constructor(element) {
    this.element = element;
    this.key = '';
  }

  // item: the node or connection as the API sent it (null hides the card); title: what to call it.
  show(item, title, x, y) {
    if (!item) {
      this.hide();
      return;
    }
    const key = JSON.stringify([title, item.metadata, item.metrics, item.notices]);
    if (key !== this.key) {
      this.key = key;
      const notices = item.notices ?? [];
      this.element.replaceChildren(
        el('p', { class: 'title' }, title, badges(item).map((b) => [' ', el('span', { class: `badge ${b}` }, b)])),
        el('p', { class: 'figures' }, figures(item)),
        ...(notices.length ? [el('ul', {}, notices.map((n) => el('li', { class: `severity-${SEVERITY_CLASS[n.severity] ?? 'info'}` },
          unescapeHtml(n.title))))] : []),
      );
    }
    this.element.hidden = false;
    const { width, height } = this.element.getBoundingClientRect();
    const left = x + OFFSET + width > window.innerWidth ? x - OFFSET - width : x + OFFSET;
    const top = y + OFFSET + height > window.innerHeight ? y - OFFSET - height : y + OFFSET;
    this.element.style.left = `${Math.max(0, left)}px`;
    this.element.style.top = `${Math.max(0, top)}px`;
  }

  hide() {
    this.element.hidden = true;
    this.key = '';
  }
}

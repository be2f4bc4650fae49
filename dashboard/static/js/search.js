// Locate a service: matching names across all namespaces, best matches first; picking one opens it.

import { el } from './dom.js';

const MAX_RESULTS = 12;

function rank(service, query) {
  const name = service.name.toLowerCase();
  if (name === query) return 0;
  if (name.startsWith(query)) return 1;
  return name.includes(query) ? 2 : null;
}

export class ServiceSearch {
  // onQuery(text): the text changed (the map dims what does not match); onPick(service): {name, region}.
  constructor(input, list, { onQuery, onPick }) {
    this.input = input;
    this.list = list;
    this.onQuery = onQuery;
    this.onPick = onPick;
    this.services = [];
    this.shown = '';
    input.addEventListener('input', () => this.search());
    input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') {
        const first = this.matches()[0];
        if (first) this.pick(first);
      } else if (event.key === 'Escape') {
        event.stopPropagation();
        this.clear();
      }
    });
  }

  setServices(services) {
    this.services = services;
    if (!this.list.hidden) this.renderResults();
  }

  matches() {
    const query = this.input.value.trim().toLowerCase();
    if (!query) return [];
    return this.services
      .map((service) => ({ service, score: rank(service, query) }))
      .filter(({ score }) => score !== null)
      .sort((a, b) => a.score - b.score || a.service.name.localeCompare(b.service.name))
      .slice(0, MAX_RESULTS)
      .map(({ service }) => service);
  }

  search() {
    this.onQuery(this.input.value.trim());
    this.renderResults();
  }

  // Redrawn only when the matches change, so a refresh never swaps a result under the pointer.
  renderResults() {
    const query = this.input.value.trim();
    const found = this.matches();
    this.list.hidden = !query;
    const shown = JSON.stringify([query, found]);
    if (!query || shown === this.shown) return;
    this.shown = shown;
    this.list.replaceChildren(...(found.length === 0
      ? [el('li', { class: 'empty' }, 'no service matches')]
      : found.map((service) => el('li', {},
        el('button', { type: 'button', class: `result color-${service.cls}`, onclick: () => this.pick(service) },
          service.name, el('span', { class: 'region' }, service.region))))));
  }

  pick(service) {
    this.clear();
    this.onPick(service);
  }

  clear() {
    this.input.value = '';
    this.shown = '';
    this.list.hidden = true;
    this.list.replaceChildren();
    this.onQuery('');
  }
}

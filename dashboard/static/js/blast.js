// Where a service's errors start (the agent's `errors` of /api/services): for an origin, its blast radius,
// every caller that sees errors because of it with the share of its calls that fail; for a victim, the
// origins its errors come from. Each row opens that service.

import { el, table } from './dom.js';
import { percent } from './format.js';

const serviceLink = (s, open) => ({ onclick: () => open({ kind: 'service', service: s.service, namespace: s.namespace }) });

export function errorsSection(errors, open) {
  if (errors?.origin) {
    return el('section', { class: 'blast-radius' }, el('h3', {}, 'Blast radius'),
      table(['caller', 'its calls failing'], errors.blast_radius.map((c) => ({
        cells: [el('span', { class: 'name' }, c.service), percent(c.error_share)], cls: 'has-errors', ...serviceLink(c, open),
      })), 'no caller sees errors'));
  }
  if (errors?.origins?.length) {
    return el('section', { class: 'error-origins' }, el('h3', {}, 'Errors come from'),
      table(['service', 'namespace'], errors.origins.map((o) => ({
        cells: [el('span', { class: 'name' }, o.service), o.namespace], ...serviceLink(o, open),
      }))));
  }
  return null;
}

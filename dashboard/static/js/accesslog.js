// An edge's recent requests as an access log: one row per request with the end that reported it,
// failures coloured, an errors-only switch, long texts cut short with the whole request and response
// a click away.

import { el } from './dom.js';
import { clock, seconds } from './format.js';

const ms = (value) => (typeof value === 'number' ? seconds(value / 1000) : seconds(null));

// The agent says whether a request failed; older answers only carry the status.
function failed(sample) {
  if (typeof sample.failed === 'boolean') return sample.failed;
  const status = String(sample.status ?? '');
  if (/^\d+$/.test(status)) return Number(status) >= 400 && sample.protocol?.startsWith('http');
  return !['ok', 'OK', ''].includes(status);
}

const failureClass = (sample) => (/^4\d\d$/.test(String(sample.status)) ? 'status-warning' : 'status-danger');

// A stable key for a row, so that an opened row stays open across refreshes.
const rowKey = (s) => `${s.time}|${s.reporter ?? ''}|${s.operation ?? ''}|${s.target ?? ''}|${s.status}`;

function fullText(sample) {
  return el('tr', { class: 'full-text' }, el('td', { colspan: 6 },
    el('pre', {}, [sample.request, sample.response, sample.parse_error].filter(Boolean).join('\n\n') || 'no text kept')));
}

// state: {errorsOnly, expanded: Set of row keys}; onChange(): the user changed state.
export function accessLog(samples, state, onChange) {
  const shown = state.errorsOnly ? samples.filter(failed) : samples;
  const toggle = (key) => {
    if (state.expanded.has(key)) state.expanded.delete(key);
    else state.expanded.add(key);
    onChange();
  };
  const rows = shown.flatMap((s) => {
    const key = rowKey(s);
    const open = state.expanded.has(key);
    const row = el('tr', {
      class: ['clickable', failed(s) ? `failed ${failureClass(s)}` : null, open ? 'open' : null].filter(Boolean).join(' '),
      tabindex: 0,
      'aria-expanded': String(open),
      title: 'show the whole request and response',
      onclick: () => toggle(key),
      onkeydown: (e) => { if (e.key === 'Enter') toggle(key); },
    },
    el('td', {}, clock(s.time)),
    el('td', { class: 'reporter' }, s.reporter ?? '?'),
    el('td', {}, s.operation ?? '?'),
    el('td', {}, el('span', { class: 'cut target' }, s.target ?? s.parse_error ?? '')),
    el('td', {}, el('span', { class: 'cut' }, s.status, s.detail ? el('span', { class: 'detail' }, ` ${s.detail}`) : null)),
    el('td', {}, ms(s.latency_ms)));
    return open ? [row, fullText(s)] : [row];
  });
  const switchBox = el('label', { class: 'switch' },
    el('input', {
      type: 'checkbox', id: 'errors-only', checked: state.errorsOnly, onchange: (e) => { state.errorsOnly = e.target.checked; onChange(); },
    }), ' errors only');
  const body = rows.length
    ? el('table', { class: 'access-log' },
      el('thead', {}, el('tr', {}, ['time', 'seen by', 'request', 'target', 'status', 'latency'].map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, rows))
    : el('p', { class: 'empty' }, state.errorsOnly ? 'no failed requests among the recent ones' : 'no samples yet');
  return [switchBox, body];
}

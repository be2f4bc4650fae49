// Each container's own health in the service panel (the agent's `health` of /api/services): CPU and memory
// now with a sparkline of the last minutes, the memory limit, restarts, OOM kills and the last exit code.

import { el, table } from './dom.js';
import { bytes, count } from './format.js';

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 80;
const HEIGHT = 16;

// A polyline of the values, scaled to the largest; nothing for fewer than two points.
function sparkline(values) {
  if (values.length < 2) return null;
  const top = Math.max(...values) || 1;
  const points = values.map((v, i) => `${(i * WIDTH) / (values.length - 1)},${HEIGHT - (v / top) * HEIGHT}`);
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('class', 'sparkline');
  svg.setAttribute('viewBox', `0 0 ${WIDTH} ${HEIGHT}`);
  svg.setAttribute('width', WIDTH);
  svg.setAttribute('height', HEIGHT);
  const line = document.createElementNS(SVG, 'polyline');
  line.setAttribute('points', points.join(' '));
  svg.append(line);
  return svg;
}

const cores = (value) => (typeof value === 'number' ? `${value.toFixed(2)} cores` : '–');

export function healthSection(containers) {
  const followed = containers.filter((c) => c.health);
  if (followed.length === 0) return null;
  return el('section', { class: 'container-health' }, el('h3', {}, 'Container health'),
    table(['name', 'CPU', 'memory', 'limit', 'restarts', 'OOM kills', 'last exit'], followed.map((c) => {
      const h = c.health;
      const series = h.series ?? [];
      return {
        cells: [el('span', { class: 'name' }, c.name),
          el('span', {}, cores(series.at(-1)?.cpu_cores), ' ', sparkline(series.map((s) => s.cpu_cores))),
          el('span', {}, bytes(h.memory_bytes), ' ', sparkline(series.map((s) => s.memory_bytes))),
          bytes(h.memory_limit_bytes), count(h.restarts), count(h.oom_kills), h.exit_code ?? '–'],
      };
    })));
}

// Numbers as people read them on the map and in the panels. Missing values show as a dash.

const DASH = '–';
const known = (value) => typeof value === 'number' && Number.isFinite(value);

function compact(value) {
  if (value === 0) return '0';
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en');
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toPrecision(2).replace(/\.?0+$/, '');
}

export const rate = (perSecond) => (known(perSecond) ? `${compact(perSecond)}/s` : DASH);

export const percent = (ratio) => (known(ratio) ? `${compact(ratio * 100)}%` : DASH);

export const count = (value) => (known(value) ? Math.round(value).toLocaleString('en') : DASH);

export function seconds(value) {
  if (!known(value)) return DASH;
  if (value < 1e-3) return `${compact(value * 1e6)} µs`;
  if (value < 1) return `${compact(value * 1e3)} ms`;
  return `${compact(value)} s`;
}

export function bytes(amount) {
  if (!known(amount)) return DASH;
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = amount;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${compact(value)} ${units[unit]}`;
}

export const bytesRate = (perSecond) => (known(perSecond) ? `${bytes(perSecond)}/s` : DASH);

// "3d 4h", "5m 02s", "12s": how long ago or how long something has been up.
export function age(totalSeconds) {
  if (!known(totalSeconds)) return DASH;
  const s = Math.max(0, Math.floor(totalSeconds));
  if (s >= 86400) return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
  if (s >= 3600) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

// Unix seconds, or an ISO 8601 string as Docker reports it, to unix seconds.
export function unixSeconds(value) {
  if (known(value)) return value;
  if (typeof value === 'string') {
    const parsed = Date.parse(value);
    if (Number.isFinite(parsed)) return parsed / 1000;
  }
  return null;
}

export function clock(unix) {
  const t = unixSeconds(unix);
  return t === null ? DASH : new Date(t * 1000).toLocaleTimeString('en-GB', { hour12: false });
}

// Replay the last hour: the slider is seconds before now (0 is live), the page asks /api/graph?at=.
// It reaches back as far as the agent's history does, an hour at most. Under the slider: throughput
// and error rate over that time (/api/timeline), and the containers' events as markers to jump to.

import { el } from './dom.js';
import { age, clock, percent, rate } from './format.js';

const LONGEST_SECONDS = 3600;
const STEP_SECONDS = 10;
const nowSeconds = () => Math.floor(Date.now() / 1000);

export class Timeline {
  // onSeek(at): at is a unix time in seconds, or null to go back to live.
  constructor(slider, liveButton, label, chart, { onSeek }) {
    this.slider = slider;
    this.chart = chart;
    this.series = null;
    this.drawnKey = '';
    slider.step = String(STEP_SECONDS);
    this.label = label;
    this.onSeek = onSeek;
    this.at = null;
    this.oldest = null;
    this.dragging = false;
    slider.addEventListener('input', () => {
      this.dragging = true;
      this.describe(this.sliderTime());
    });
    slider.addEventListener('change', () => {
      this.dragging = false;
      this.seek(this.sliderTime());
    });
    liveButton.addEventListener('click', () => this.seek(null));
    setInterval(() => this.render(), 1000);
  }

  sliderTime() {
    const offset = Number(this.slider.value);
    return offset >= 0 ? null : nowSeconds() + offset;
  }

  seek(at) {
    this.set(at);
    this.onSeek(at);
  }

  // Show a time chosen elsewhere (a URL) without reporting it back.
  set(at) {
    this.at = at;
    this.render();
  }

  // history: the graph's metadata.history: {oldest, newest} in unix seconds (null before the first
  // snapshot) and interval_seconds. The oldest snapshot may be dropped any interval: stay one clear of it.
  setHistory(history) {
    this.oldest = typeof history?.oldest === 'number' ? Math.ceil(history.oldest + (history.interval_seconds ?? 0)) : null;
    this.render();
  }

  // series: the /api/timeline answer (null with an error: said on the chart).
  setSeries(series, error = null) {
    this.series = series;
    this.chart.title = error ? `no timeline: ${error.message}` : '';
    this.drawnKey = '';
    this.render();
  }

  reach() {
    // whole steps, so that the slider's step grid (anchored at its min) holds 0, live
    const known = this.oldest === null ? 0 : Math.max(0, nowSeconds() - this.oldest);
    return Math.floor(Math.min(LONGEST_SECONDS, known) / STEP_SECONDS) * STEP_SECONDS;
  }

  // The sparkline (errors red, from the bottom; requests a line) and event markers, redrawn when the
  // data or the reach changed, and every ten seconds as the hour moves on.
  drawChart(reach) {
    const now = nowSeconds();
    const key = `${reach}|${Math.floor(now / 10)}`;
    if (key === this.drawnKey) return;
    this.drawnKey = key;
    const canvas = this.chart.querySelector('canvas');
    const box = canvas.getBoundingClientRect();
    canvas.width = Math.max(1, Math.round(box.width));
    canvas.height = Math.max(1, Math.round(box.height));
    const g = canvas.getContext('2d');
    g.clearRect(0, 0, canvas.width, canvas.height);
    const points = this.series?.points ?? [];
    const start = now - reach;
    const x = (t) => ((t - start) / Math.max(reach, 1)) * canvas.width;
    const shown = reach > 0 ? points.filter((p) => p.t >= start) : [];
    const peak = Math.max(0, ...shown.map((p) => p.rps));
    g.fillStyle = 'rgba(230, 70, 70, 0.75)';
    for (const p of shown) {
      const h = Math.min(1, p.error_rate) * canvas.height;
      g.fillRect(x(p.t), canvas.height - h, Math.max(1, canvas.width / Math.max(shown.length, 1)), h);
    }
    if (peak > 0) {
      g.strokeStyle = 'rgba(186, 213, 237, 0.8)';
      g.beginPath();
      shown.forEach((p, i) => {
        const y = canvas.height - 1 - (p.rps / peak) * (canvas.height - 2);
        if (i === 0) g.moveTo(x(p.t), y);
        else g.lineTo(x(p.t), y);
      });
      g.stroke();
    }
    const events = reach > 0 ? (this.series?.events ?? []).filter((e) => e.t >= start) : [];
    const markers = this.chart.querySelector('.markers');
    markers.replaceChildren(...events.map((e) => {
      const marker = el('button', {
        type: 'button',
        class: `marker ${e.kind}`,
        title: `${clock(e.t)} ${e.kind}: ${e.container} (${e.namespace}/${e.service})`,
        'aria-label': `${e.kind} of ${e.container} at ${clock(e.t)}`,
        onclick: () => this.seek(Math.floor(e.t)),
      });
      marker.style.left = `${((e.t - start) / reach) * 100}%`; // through CSSOM: the CSP allows no style attributes
      return marker;
    }));
    const worst = shown.reduce((m, p) => Math.max(m, p.error_rate), 0);
    this.chart.setAttribute('aria-label', `Over the last ${age(reach)}: up to ${rate(peak)}, error rate up to ${percent(worst)}, ${events.length} container events`);
  }

  render() {
    const reach = this.reach();
    this.slider.min = String(-reach);
    this.slider.disabled = reach === 0;
    this.slider.title = reach === 0 ? 'no history yet' : `history of the last ${age(reach)}`;
    if (!this.dragging) {
      const min = Number(this.slider.min);
      this.slider.value = this.at === null ? '0' : String(Math.max(min, Math.min(0, this.at - nowSeconds())));
      this.describe(this.at);
    }
    document.body.classList.toggle('replaying', this.at !== null);
    this.drawChart(reach);
  }

  describe(at) {
    this.label.textContent = at === null ? 'live' : `${clock(at)} (${age(nowSeconds() - at)} ago)`;
  }
}

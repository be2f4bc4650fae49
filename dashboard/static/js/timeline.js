// Replay the last hour: the slider is seconds before now (0 is live), the page asks /api/graph?at=.
// It reaches back as far as the agent's history does, an hour at most.

import { age, clock } from './format.js';

const LONGEST_SECONDS = 3600;
const STEP_SECONDS = 10;
const nowSeconds = () => Math.floor(Date.now() / 1000);

export class Timeline {
  // onSeek(at): at is a unix time in seconds, or null to go back to live.
  constructor(slider, liveButton, label, { onSeek }) {
    this.slider = slider;
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

  render() {
    // whole steps, so that the slider's step grid (anchored at its min) holds 0, live
    const known = this.oldest === null ? 0 : Math.max(0, nowSeconds() - this.oldest);
    const reach = Math.floor(Math.min(LONGEST_SECONDS, known) / STEP_SECONDS) * STEP_SECONDS;
    this.slider.min = String(-reach);
    this.slider.disabled = reach === 0;
    this.slider.title = reach === 0 ? 'no history yet' : `history of the last ${age(reach)}`;
    if (!this.dragging) {
      const min = Number(this.slider.min);
      this.slider.value = this.at === null ? '0' : String(Math.max(min, Math.min(0, this.at - nowSeconds())));
      this.describe(this.at);
    }
    document.body.classList.toggle('replaying', this.at !== null);
  }

  describe(at) {
    this.label.textContent = at === null ? 'live' : `${clock(at)} (${age(nowSeconds() - at)} ago)`;
  }
}

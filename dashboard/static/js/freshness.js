// How old the data on screen is. Live data turns stale after STALE_AFTER_MS without an update: when the
// API stops answering, or answers with a graph whose `updated` stamp no longer moves.

import { age, clock } from './format.js';

export const STALE_AFTER_MS = 10000;

export class Freshness {
  constructor(element) {
    this.element = element;
    this.stamp = undefined;
    this.changedAt = null;
    this.error = null;
    this.replayAt = null;
    setInterval(() => this.render(), 1000);
  }

  // stamp: the graph's `updated`, or null when the API sends none (then every answer counts as new).
  received(stamp) {
    this.error = null;
    if (stamp === null || stamp !== this.stamp) {
      this.stamp = stamp;
      this.changedAt = Date.now();
    }
    this.render();
  }

  failed(error) {
    this.error = error;
    this.render();
  }

  replaying(at) {
    this.replayAt = at;
    this.render();
  }

  render() {
    let state;
    let text;
    if (this.replayAt) {
      state = 'replay';
      text = `replay of ${clock(this.replayAt)}`;
    } else if (this.changedAt === null) {
      state = this.error ? 'stale' : 'waiting';
      text = this.error ? 'no data' : 'waiting for data';
    } else {
      const quiet = Date.now() - this.changedAt;
      state = quiet > STALE_AFTER_MS ? 'stale' : 'live';
      text = state === 'live' ? `live · updated ${age(quiet / 1000)} ago` : `stale · no update for ${age(quiet / 1000)}`;
    }
    this.element.dataset.state = state;
    this.element.textContent = text;
    this.element.title = this.error ? this.error.message : '';
  }
}

// How old the data on screen is. A poll that fails turns the indicator to "error" at once; live data
// whose graph `updated` stamp stops moving turns "stale" after STALE_AFTER_MS. In both cases the data on
// screen is frozen, and onFrozen(reason) tells the page to say so (reason null: live again).

import { age, clock } from './format.js';

export const STALE_AFTER_MS = 10000;

export class Freshness {
  constructor(element, { onFrozen }) {
    this.element = element;
    this.onFrozen = onFrozen;
    this.stamp = undefined;
    this.changedAt = null;
    this.error = null;
    this.failedAt = null;
    this.replayAt = null;
    this.frozenReason = null;
    setInterval(() => this.render(), 1000);
  }

  // stamp: the graph's `updated`, or null when the API sends none (then every answer counts as new).
  received(stamp) {
    this.error = null;
    this.failedAt = null;
    if (stamp === null || stamp !== this.stamp) {
      this.stamp = stamp;
      this.changedAt = Date.now();
    }
    this.render();
  }

  failed(error) {
    if (!this.error) this.failedAt = Date.now();
    this.error = error;
    this.render();
  }

  replaying(at) {
    this.replayAt = at;
    this.render();
  }

  state() {
    if (this.replayAt) return { state: 'replay', text: `replay of ${clock(this.replayAt)}` };
    if (this.error) {
      const shown = this.changedAt === null ? 'nothing to show yet' : `this is the data of ${clock(this.changedAt / 1000)}`;
      return {
        state: 'error',
        text: `error · no answer for ${age((Date.now() - this.failedAt) / 1000)}`,
        frozen: `Frozen: the agent did not answer (${this.error.message}); ${shown}.`,
      };
    }
    if (this.changedAt === null) return { state: 'waiting', text: 'waiting for data' };
    const quiet = Date.now() - this.changedAt;
    if (quiet <= STALE_AFTER_MS) return { state: 'live', text: `live · updated ${age(quiet / 1000)} ago` };
    return {
      state: 'stale',
      text: `stale · no update for ${age(quiet / 1000)}`,
      frozen: `Frozen: the agent sent nothing new since ${clock(this.changedAt / 1000)}.`,
    };
  }

  render() {
    const { state, text, frozen = null } = this.state();
    this.element.dataset.state = state;
    this.element.textContent = text;
    this.element.title = this.error ? this.error.message : '';
    if (frozen !== this.frozenReason) {
      this.frozenReason = frozen;
      this.onFrozen(frozen);
    }
  }
}

// How many dots Vizceral releases on an edge, and of which colour.
//
// Vizceral maps each class's rate through its own curve (ConnectionView.updateVolume in
// dashboard/node_modules/vizceral/src/base/connectionView.js): small rates are boosted to "a dot every
// 5 to 10 s" and large ones are linear, classes apart. 16.6 ok/s drew hundreds of white dots while
// 2 errors/s drew one every few seconds, so failures looked far rarer than they were. Here a dot is a
// request: an edge draws as many dots a second as it carries requests, each class its share; failing
// classes get at least one dot a second (when the edge draws that many), so that a 1% error rate is
// seen. Fewer dots than Vizceral's (about nine per request on a busy edge) also make frames cheaper.
// The metrics Vizceral shows as numbers stay the true rates.
//
// An edge holds at most maxParticles dots in flight; once full, Vizceral's launches fail in class order
// (the first class gets every freed dot), which skews the colours. The dots per tick are therefore kept
// under what the edge can hold: maxParticles over the ticks a dot takes to cross it.

const TICKS_PER_SECOND = 60; // Vizceral's particle clock: one tick per frame at 60 frames a second
const FAILING_FLOOR = 1 / TICKS_PER_SECOND; // one dot a second
const isFailing = (cls) => cls !== 'normal';
const MEAN_SPEED = 4; // units per tick: Vizceral gives each dot a speed of 3 + random(2)
const HEADROOM = 0.8;

// Releases per tick that keep a connection view's dots in flight under its maximum.
function capacity(view) {
  return view.length > 0 ? (HEADROOM * view.maxParticles * MEAN_SPEED) / view.length : Infinity;
}

// Releases per tick for each class, from the edge's rate by class and the most the edge can hold.
export function shareDots(volumes, most = Infinity) {
  const entries = Object.entries(volumes).filter(([, v]) => Number(v) > 0);
  const total = entries.reduce((sum, [, v]) => sum + Number(v), 0);
  if (total === 0) return [];
  const budget = Math.min(most, total / TICKS_PER_SECOND);
  return entries.map(([name, volume]) => {
    const share = budget * (Number(volume) / total);
    return {
      name, volume: Number(volume), releasesPerTick: isFailing(name) ? Math.max(share, Math.min(budget, FAILING_FLOOR)) : share,
    };
  });
}

// Dots released and in flight per class on each connection view, for tests and the benchmark.
function countDots(view) {
  const launch = view.launchParticles;
  view.launchParticles = function launchCounted(number, key, startX) {
    this.launchingClass = key;
    launch.call(this, number, key, startX);
    this.launchingClass = null;
  };
  const setColor = view.setParticleColor;
  view.setParticleColor = function setColorCounted(index, color) {
    setColor.call(this, index, color);
    if (!this.launchingClass) return;
    this.dotClass = this.dotClass ?? [];
    this.dotClass[index] = this.launchingClass;
    this.launched = this.launched ?? {};
    this.launched[this.launchingClass] = (this.launched[this.launchingClass] ?? 0) + 1;
  };
}

export function reweightDots(ConnectionView) {
  const view = ConnectionView.prototype;
  view.updateVolume = function updateVolumeByShare() {
    this.releasesPerTick = shareDots(this.object.volume ?? {}, capacity(this));
  };
  countDots(view);
}

// Dots a connection view launched per class since the last reset, and those in flight now.
export function dotCounts(view) {
  const inFlight = {};
  const positions = view.positionAttr.array;
  for (let i = 0; i < positions.length / 3; i += 1) {
    const cls = view.dotClass?.[i];
    if (positions[i * 3] !== 0 && cls) inFlight[cls] = (inFlight[cls] ?? 0) + 1;
  }
  return { launched: { ...(view.launched ?? {}) }, inFlight };
}

export function resetDotCounts(view) {
  view.launched = {};
}

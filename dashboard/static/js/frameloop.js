// When the map is drawn. Vizceral's own loop draws 60 frames a second forever, even an empty canvas
// (74% of a core with software rendering). This one draws only while something moves: dots on an edge,
// a view or layout change settling, the pointer on the canvas. Moving dots are drawn at IDLE_FPS, or
// ACTIVE_FPS while the pointer is in use; Vizceral's particle clock still advances 60 ticks a second,
// so dots keep their speed and rates. A frozen map stops its dots where they are.

const TICK_MS = 1000 / 60;
const IDLE_FPS = 20;
const ACTIVE_FPS = 30;
const SETTLE_MS = 2500; // longest Vizceral transition (1 s) plus the layout worker's answer
const ACTIVE_MS = 2000; // after the last pointer move
const MAX_TICKS = 6; // a late frame catches up this far, no more (a hidden tab comes back calm)

const noUpdate = () => {};

// Dots on a view still to be drawn: released on an edge with traffic, or in flight.
function hasMovingDots(graph) {
  return Object.values(graph.connections).some((c) => {
    if (!c.isVisible()) return false;
    const view = c.getView();
    const inFlight = view && view.lastParticleIndex < view.particleSystemSize - 1;
    return c.getVolumeTotal() > 0 || inFlight;
  });
}

export class FrameLoop {
  constructor(viz, onFrame) {
    this.viz = viz;
    this.onFrame = onFrame;
    this.frozen = false;
    this.busyUntil = 0;
    this.activeUntil = 0;
    this.lastFrame = 0;
    this.scheduled = false;
    this.frames = 0;
  }

  // Something changed: draw for a while. interactive: the user is acting (pointer, zoom): draw smoothly.
  wake({ interactive = false } = {}) {
    const now = performance.now();
    this.busyUntil = Math.max(this.busyUntil, now + SETTLE_MS);
    if (interactive) this.activeUntil = now + ACTIVE_MS;
    this.schedule(0);
  }

  setFrozen(frozen) {
    if (frozen === this.frozen) return;
    this.frozen = frozen;
    this.wake();
  }

  schedule(delay) {
    if (this.scheduled) return;
    this.scheduled = true;
    const run = () => window.requestAnimationFrame((time) => {
      this.scheduled = false;
      this.frame(time);
    });
    if (delay > 0) window.setTimeout(run, delay);
    else run();
  }

  frame(time) {
    const graph = this.viz.currentGraph;
    const moving = !this.frozen && graph && hasMovingDots(graph);
    const busy = time < this.busyUntil;
    if (!moving && !busy) return; // the picture on screen is still true: draw nothing until woken
    const interval = 1000 / (time < this.activeUntil ? ACTIVE_FPS : IDLE_FPS);
    const due = this.lastFrame + interval;
    if (time < due - 1) {
      this.schedule(due - time);
      return;
    }
    const ticks = Math.min(MAX_TICKS, Math.max(1, Math.round((time - this.lastFrame) / TICK_MS)));
    this.lastFrame = time;
    this.draw(graph, time, ticks);
    this.frames += 1;
    this.onFrame();
    this.schedule(interval);
  }

  draw(graph, time, ticks) {
    if (graph && this.frozen) graph.update = noUpdate; // shadows the prototype's: dots stand still
    try {
      if (graph) for (let i = 1; i < ticks; i += 1) graph.update(time);
      this.viz.render(time);
    } finally {
      if (graph) delete graph.update;
    }
  }

  stats() {
    return { frames: this.frames, frozen: this.frozen };
  }
}

// The one Vizceral instance on the page (it keeps module-level singletons) and the workarounds it needs.
/* global Vizceral */

import { FrameLoop } from './frameloop.js';
import { isGhost } from './graphdata.js';
import { dotCounts, resetDotCounts, reweightDots } from './particles.js';
import { edgeSelection, serviceSelection, sameSelection } from './route.js';

const RATE_FILTER = 'min-rate';
// Trouble is never filtered away: an edge with failing requests, a ghost or a changed one stays
// whatever its rate.
const failing = (connection) => connection.getVolume('danger') > 0 || connection.getVolume('warning') > 0;
const marked = (connection) => Boolean(connection.metadata?.mark) || isGhost(connection);
const passesRate = (connection, minRate) => connection.getVolumeTotal() >= minRate || failing(connection) || marked(connection);

// Colours of the classes the page adds: a ghost (silent since) and a new edge's ends.
const EXTRA_CLASSES = { ghost: 'rgb(140, 120, 200)', new: 'rgb(91, 201, 120)' };

// The numbers on the big donuts (global view, focused service): the agent's own, which count a
// namespace's internal traffic; Vizceral's defaults derive them from connections alone, and on the
// global view show shares of traffic instead of rates.
const RATE = 'metadata.intuition.rps';
const ERROR_RATE = 'metadata.intuition.error_rate';
const DONUT_NUMBERS = {
  detailedNode: {
    volume: {
      default: {
        top: { header: 'RPS', data: RATE, format: '0,0.[0]' },
        bottom: { header: 'ERROR RATE', data: ERROR_RATE, format: '0.[00]%' },
      },
      focused: { top: { header: 'RPS', data: RATE, format: '0,0.[0]' } },
      entry: { top: { header: 'TOTAL RPS', data: RATE, format: '0,0.[0]' } },
    },
  },
};

// Netflix/vizceral#131: ltrTree's layout cache hands the whole cache entry to layoutPositions instead
// of its positions, so a node that comes back after being removed is drawn at (0,0) on top of another.
function fixLayoutCache(viz) {
  const layout = viz.layouts.ltrTree.prototype;
  const layoutPositions = layout.layoutPositions;
  layout.layoutPositions = function layoutCachedPositions(graph, found) {
    return layoutPositions.call(this, graph, found && found.positions ? found.positions : found);
  };
}

function describe(object) {
  if (!object) return null;
  if (object.type === 'connection') return edgeSelection(object.source.getName(), object.target.getName());
  if (object.type === 'node') return serviceSelection(object.getName());
  return null;
}

const objectName = (selection) => {
  if (!selection) return undefined;
  return selection.kind === 'edge' ? `${selection.client}--${selection.server}` : selection.name;
};

export class ServiceMap {
  // onViewChanged(view, byUser): byUser is true when the change came from a click on the canvas.
  // onSelectionChanged(selection): the user highlighted a node or connection (or cleared it).
  // onHover(selection, x, y): the pointer is over a node or connection (selection null: over nothing).
  // onFrame(): the canvas was just drawn (to draw what goes over it).
  constructor(canvas, {
    onViewChanged, onSelectionChanged, onHover, onFrame,
  }) {
    this.viz = new Vizceral.default(canvas); // throws when WebGL is unavailable
    fixLayoutCache(this.viz);
    reweightDots(Vizceral.ConnectionView);
    this.viz.updateStyles({ colorTraffic: EXTRA_CLASSES });
    this.viz.updateDefinitions(DONUT_NUMBERS);
    this.viz.setOptions({ showLabels: true, allowDraggingOfNodes: false });
    this.minRate = 0;
    this.hidden = [];
    this.selection = null;
    this.programmatic = 0;
    this.signature = '';
    this.loop = new FrameLoop(this.viz, onFrame);
    this.applyRateFilter();
    this.viz.on('viewChanged', ({ view }) => {
      this.loop.wake({ interactive: true }); // a zoom to draw smoothly
      onViewChanged(view.slice(), this.programmatic === 0);
    });
    this.viz.on('objectHighlighted', (object) => {
      // Vizceral re-emits the highlight on every update, and clears it while it switches views:
      // report only what the user changed.
      const selection = describe(object);
      if (sameSelection(selection, this.selection)) return;
      this.selection = selection;
      this.loop.wake();
      if (this.programmatic === 0) onSelectionChanged(selection);
    });
    // Vizceral's own handler has run by now and named what is under the pointer.
    canvas.addEventListener('mousemove', (event) => {
      this.loop.wake({ interactive: true });
      onHover(describe(this.viz.objectToSwitch), event.clientX, event.clientY);
    });
    canvas.addEventListener('mouseleave', () => onHover(null));
    window.addEventListener('resize', () => {
      this.viz.updateBoundingRectCache();
      this.loop.wake();
    });
    this.loop.wake();
  }

  // Calls into Vizceral that can change the view; a viewChanged they cause is not the user's doing.
  quietly(action) {
    this.programmatic += 1;
    try {
      action();
    } finally {
      this.programmatic -= 1;
    }
    this.loop.wake();
  }

  // A graph like the last one (bar its `updated` stamps) changes nothing on screen: Vizceral is not
  // even told, so an idle map stays undrawn. A graph Vizceral threw on is offered again next time:
  // on an idle system the next one is the same, and the map would otherwise stay empty for good.
  update(graph) {
    const signature = JSON.stringify(graph, (key, value) => (key === 'updated' ? undefined : value));
    if (signature === this.signature) return;
    this.quietly(() => this.viz.updateData(graph));
    this.signature = signature;
    this.refilterIfRatesCrossed();
  }

  show(view, selection) {
    this.quietly(() => this.viz.setView(view, objectName(selection)));
  }

  // Dim everything that does not match (Vizceral's own search); an empty text clears it. Vizceral
  // drops the highlighted object while searching: that is no choice of the user's, so the panel stays.
  locate(text, view, selection) {
    this.quietly(() => {
      this.viz.findNodes(text);
      if (!text) this.viz.setView(view, objectName(selection));
    });
  }

  // A frozen map stops its dots: the data behind them is no longer live.
  setFrozen(frozen) {
    this.loop.setFrozen(frozen);
  }

  setMinRate(minRate) {
    if (minRate === this.minRate) return;
    this.minRate = minRate;
    this.applyRateFilter();
  }

  applyRateFilter() {
    // A fresh object each time: Vizceral relayouts only when the stored value differs. The layout
    // keeps room for every edge (defaultValue 0), so hiding edges never moves the others.
    this.viz.setFilters([{
      name: RATE_FILTER, type: 'connection', passes: passesRate, value: this.minRate, defaultValue: 0,
    }]);
    this.hidden = this.hiddenConnections();
    this.loop.wake();
  }

  // Names of the connections of the current view that the rate filter hides.
  hiddenConnections() {
    const graph = this.viz.currentGraph;
    if (!graph || this.minRate <= 0) return [];
    return Object.values(graph.connections).filter((c) => !passesRate(c, this.minRate)).map((c) => c.getName()).sort();
  }

  // Vizceral applies filters only on relayout; rerun it when a live rate crossed the threshold.
  refilterIfRatesCrossed() {
    const hidden = this.hiddenConnections();
    if (hidden.join('\n') !== this.hidden.join('\n')) {
      this.hidden = hidden;
      this.quietly(() => this.viz.currentGraph._relayout());
    }
  }

  // Where a node of the current view is drawn, in page pixels (null when it is not drawn).
  nodePoint(name) {
    const graph = this.viz.currentGraph;
    const node = graph && graph.nodes[name];
    if (!node || !node.isVisible() || !node.getView()) return null;
    const object = node.getView().container;
    object.updateMatrixWorld(true);
    const world = object.matrixWorld.elements;
    const { camera } = this.viz;
    const box = this.viz.renderer.domElement.getBoundingClientRect();
    return {
      x: box.left + ((world[12] - camera.left) / (camera.right - camera.left)) * box.width,
      y: box.top + ((camera.top - world[13]) / (camera.top - camera.bottom)) * box.height,
    };
  }

  // For tests and the benchmark: dots per class on a connection of the current view ("a--b").
  dotCounts(name) {
    const view = this.viz.currentGraph?.connections[name]?.getView();
    return view ? dotCounts(view) : null;
  }

  resetDotCounts(name) {
    const view = this.viz.currentGraph?.connections[name]?.getView();
    if (view) resetDotCounts(view);
  }

  frameStats() {
    return this.loop.stats();
  }
}

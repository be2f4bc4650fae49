// The one Vizceral instance on the page (it keeps module-level singletons) and the workarounds it needs.
/* global Vizceral */

import { edgeSelection, serviceSelection, sameSelection } from './route.js';

const RATE_FILTER = 'min-rate';
const passesRate = (connection, minRate) => connection.getVolumeTotal() >= minRate;

// Netflix/vizceral#131: ltrTree's layout cache hands the whole cache entry to layoutPositions instead
// of its positions, so a node that comes back after being removed is drawn at (0,0) on top of another.
function fixLayoutCache(viz) {
  const layout = viz.layouts.ltrTree.prototype;
  const layoutPositions = layout.layoutPositions;
  layout.layoutPositions = function layoutCachedPositions(graph, found) {
    return layoutPositions.call(this, graph, found && found.positions ? found.positions : found);
  };
}

// Vizceral is tuned for thousands of requests a second: below 10 it releases a dot every five seconds
// or more, so the services of a quiet host look idle. Release at least one dot per request (the map
// draws 60 frames a second); busier edges keep Vizceral's own, denser streams.
function showEveryRequest() {
  const view = Vizceral.ConnectionView.prototype;
  const updateVolume = view.updateVolume;
  view.updateVolume = function updateVolumeDotPerRequest() {
    updateVolume.call(this);
    this.releasesPerTick = this.releasesPerTick.map((release) => ({
      ...release, releasesPerTick: Math.max(release.releasesPerTick, release.volume / 60),
    }));
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
  constructor(canvas, { onViewChanged, onSelectionChanged }) {
    this.viz = new Vizceral.default(canvas); // throws when WebGL is unavailable
    fixLayoutCache(this.viz);
    showEveryRequest();
    this.viz.setOptions({ showLabels: true, allowDraggingOfNodes: false });
    this.minRate = 0;
    this.applyRateFilter();
    this.selection = null;
    this.passing = '';
    this.programmatic = 0;
    this.viz.on('viewChanged', ({ view }) => onViewChanged(view.slice(), this.programmatic === 0));
    this.viz.on('objectHighlighted', (object) => {
      // Vizceral re-emits the highlight on every update, and clears it while it switches views:
      // report only what the user changed.
      const selection = describe(object);
      if (sameSelection(selection, this.selection)) return;
      this.selection = selection;
      if (this.programmatic === 0) onSelectionChanged(selection);
    });
    window.addEventListener('resize', () => this.viz.updateBoundingRectCache());
    this.viz.animate();
  }

  // Calls into Vizceral that can change the view; a viewChanged they cause is not the user's doing.
  quietly(action) {
    this.programmatic += 1;
    try {
      action();
    } finally {
      this.programmatic -= 1;
    }
  }

  update(graph) {
    this.quietly(() => this.viz.updateData(graph));
    this.refilterIfRatesCrossed();
  }

  show(view, selection) {
    this.quietly(() => this.viz.setView(view, objectName(selection)));
  }

  // Dim everything that does not match (Vizceral's own search); an empty text clears it.
  locate(text) {
    this.viz.findNodes(text);
  }

  setMinRate(minRate) {
    this.minRate = minRate;
    this.applyRateFilter();
  }

  applyRateFilter() {
    // A fresh object each time: Vizceral relayouts only when the stored value differs. The layout
    // keeps room for every edge (defaultValue 0), so hiding edges never moves the others.
    this.viz.setFilters([{
      name: RATE_FILTER, type: 'connection', passes: passesRate, value: this.minRate, defaultValue: 0,
    }]);
    this.passing = this.passingConnections();
  }

  passingConnections() {
    const graph = this.viz.currentGraph;
    if (!graph || this.minRate <= 0) return '';
    return Object.values(graph.connections).filter((c) => passesRate(c, this.minRate)).map((c) => c.getName()).sort().join('\n');
  }

  // Vizceral applies filters only on relayout; rerun it when a live rate crossed the threshold.
  refilterIfRatesCrossed() {
    const passing = this.passingConnections();
    if (passing !== this.passing) {
      this.passing = passing;
      this.quietly(() => this.viz.currentGraph._relayout());
    }
  }
}

// What Vizceral cannot draw, drawn over its canvas: an edge without traffic shows no dots, so ghosts
// (silent since) and edges gone since the baseline get a dashed line; new edges a green one, changed
// ones an orange line and a "changed" tag. Redrawn with every frame of the map.

import { isGhost } from './graphdata.js';

const STYLES = {
  ghost: { color: 'rgba(140, 120, 200, 0.9)', dash: [6, 6], width: 2 },
  vanished: { color: 'rgba(140, 120, 200, 0.9)', dash: [6, 6], width: 2 },
  new: { color: 'rgba(91, 201, 120, 0.55)', dash: [], width: 5, tag: 'new' },
  changed: { color: 'rgba(255, 185, 73, 0.6)', dash: [], width: 3, tag: 'changed' },
};

const styleOf = (connection) => STYLES[connection.metadata?.mark] ?? (isGhost(connection) ? STYLES.ghost : null);

export class MarkOverlay {
  constructor(canvas) {
    this.canvas = canvas;
    this.context = canvas.getContext('2d');
    this.drawn = false;
    this.lines = []; // what the last frame drew: [{source, target, kind}], for tests
  }

  // level: the nodes and connections of the current view; pointOf(name): where the map draws a node.
  draw(level, pointOf) {
    const marked = (level.connections ?? []).filter(styleOf);
    if (!marked.length && !this.drawn) return;
    const box = this.canvas.getBoundingClientRect();
    if (this.canvas.width !== Math.round(box.width) || this.canvas.height !== Math.round(box.height)) {
      this.canvas.width = Math.round(box.width);
      this.canvas.height = Math.round(box.height);
    }
    const g = this.context;
    g.clearRect(0, 0, this.canvas.width, this.canvas.height);
    this.drawn = false;
    this.lines = [];
    g.font = '11px system-ui, sans-serif';
    for (const connection of marked) {
      const from = pointOf(connection.source);
      const to = pointOf(connection.target);
      if (!from || !to) continue;
      const style = styleOf(connection);
      g.strokeStyle = style.color;
      g.lineWidth = style.width;
      g.setLineDash(style.dash);
      g.beginPath();
      g.moveTo(from.x - box.left, from.y - box.top);
      g.lineTo(to.x - box.left, to.y - box.top);
      g.stroke();
      if (style.tag) {
        g.fillStyle = style.color;
        g.fillText(style.tag, (from.x + to.x) / 2 - box.left + 6, (from.y + to.y) / 2 - box.top - 6);
      }
      this.drawn = true;
      this.lines.push({ source: connection.source, target: connection.target, kind: connection.metadata?.mark ?? 'ghost' });
    }
  }
}

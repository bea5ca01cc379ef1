// Bounds of the listed nodes (all nodes when ids is null), title bars included, in graph
// coordinates: [x0, y0, x1, y1].
(ids) => {
  const g = window.app.graph;
  const nodes = ids ? ids.map((i) => g.getNodeById(Number(i))) : g._nodes;
  const title = window.LiteGraph.NODE_TITLE_HEIGHT ?? 30;
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const n of nodes) {
    x0 = Math.min(x0, n.pos[0]);
    y0 = Math.min(y0, n.pos[1] - title);
    x1 = Math.max(x1, n.pos[0] + n.size[0]);
    y1 = Math.max(y1, n.pos[1] + n.size[1]);
  }
  return [x0, y0, x1, y1];
}

// Edit the open graph as a user would by hand, through the frontend's LiteGraph API.
// plan = {
//   replace: [{id, outputs: {<old output slot>: {type, widgets: {name: value}, slot}}}]
//            each old node is removed; every link from one of its outputs is re-made from the
//            output `slot` of a new node of `type` (one new node per distinct type+widgets),
//   widgets: [{id, name, value}],       set widget values
//   connect: [{from, slot, to, input}], link output `slot` of node `from` to input name `input` of `to`
//   modes:   [{id, mode}]               0 = always, 2 = muted, 4 = bypassed
//   add:     [{key, type, widgets, near}] new nodes of `type` (placed below node `near`); `connect`
//            entries may name them as "new:<key>"
// } -> {created: {old id: [new ids]}, added: {key: new id}}
(plan) => {
  const g = window.app.graph;
  const added = {};
  const node = (id) => {
    if (typeof id === "string" && id.startsWith("new:")) id = added[id.slice(4)];
    const n = g.getNodeById(Number(id)) ?? g.getNodeById(id);
    if (!n) throw new Error(`no node ${id} in the graph`);
    return n;
  };
  const link = (id) => (g.links instanceof Map ? g.links.get(id) : g.links[id]);
  const setWidget = (n, name, value) => {
    const w = (n.widgets || []).find((x) => x.name === name);
    if (!w) throw new Error(`node ${n.id} (${n.type}) has no widget ${name}; it has ${(n.widgets || []).map((x) => x.name)}`);
    w.value = value;
    w.callback?.(value, window.app.canvas, n);
  };
  const created = {};
  for (const r of plan.replace || []) {
    const old = node(r.id);
    const made = {};
    for (const [slot, rep] of Object.entries(r.outputs)) {
      const key = rep.type + JSON.stringify(rep.widgets || {});
      let nn = made[key];
      if (!nn) {
        nn = window.LiteGraph.createNode(rep.type);
        if (!nn) throw new Error(`node type ${rep.type} is not registered`);
        nn.pos = [old.pos[0], old.pos[1] + 110 * Object.keys(made).length];
        g.add(nn);
        for (const [name, value] of Object.entries(rep.widgets || {})) setWidget(nn, name, value);
        made[key] = nn;
      }
      for (const lid of [...(old.outputs[Number(slot)]?.links || [])]) {
        const l = link(lid);
        nn.connect(rep.slot ?? 0, node(l.target_id), l.target_slot);
      }
    }
    g.remove(old);
    created[r.id] = Object.values(made).map((n) => String(n.id));
  }
  for (const a of plan.add || []) {
    const nn = window.LiteGraph.createNode(a.type);
    if (!nn) throw new Error(`node type ${a.type} is not registered`);
    if (a.near != null) nn.pos = [node(a.near).pos[0], node(a.near).pos[1] + 160];
    g.add(nn);
    for (const [name, value] of Object.entries(a.widgets || {})) setWidget(nn, name, value);
    added[a.key] = nn.id;
  }
  for (const w of plan.widgets || []) setWidget(node(w.id), w.name, w.value);
  for (const c of plan.connect || []) {
    const to = node(c.to);
    const idx = to.inputs.findIndex((i) => i.name === c.input);
    if (idx < 0) throw new Error(`node ${c.to} (${to.type}) has no input ${c.input}`);
    node(c.from).connect(c.slot ?? 0, to, idx);
  }
  for (const m of plan.modes || []) node(m.id).mode = m.mode;
  g.setDirtyCanvas(true, true);
  return { created, added: Object.fromEntries(Object.entries(added).map(([k, v]) => [k, String(v)])) };
}

// Every node of the open graph with its widgets as the frontend built them from /object_info.
() => window.app.graph._nodes.map((n) => ({
  id: String(n.id),
  type: n.type,
  title: n.title,
  mode: n.mode,
  size: [n.size[0], n.size[1]],
  registered: !!window.LiteGraph.registered_node_types[n.type],
  has_errors: !!n.has_errors,
  widgets: (n.widgets || []).map((w) => ({
    name: w.name,
    type: w.type,
    value: typeof w.value === "object" ? null : w.value,
    min: w.options?.min ?? null,
    max: w.options?.max ?? null,
    step: w.options?.step2 ?? w.options?.step ?? null,
    precision: w.options?.precision ?? null,
  })),
}))

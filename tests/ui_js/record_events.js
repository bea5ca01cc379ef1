// Record the run events the frontend receives over its websocket (window.__safesteer):
// ended: one entry per finished run {status, prompt_id, error}; executed: {node, prompt_id, output}.
() => {
  if (window.__safesteer) return;
  const rec = (window.__safesteer = { ended: [], executed: [], started: [] });
  const api = window.app.api;
  api.addEventListener("execution_start", (e) => rec.started.push(e.detail?.prompt_id ?? null));
  api.addEventListener("execution_success", (e) => rec.ended.push({ status: "success", prompt_id: e.detail?.prompt_id ?? null }));
  api.addEventListener("execution_interrupted", (e) => rec.ended.push({ status: "interrupted", prompt_id: e.detail?.prompt_id ?? null }));
  api.addEventListener("execution_error", (e) => rec.ended.push({ status: "error", prompt_id: e.detail?.prompt_id ?? null, error: e.detail }));
  api.addEventListener("executed", (e) => rec.executed.push({ node: String(e.detail?.node), prompt_id: e.detail?.prompt_id ?? null, output: e.detail?.output ?? null }));
}

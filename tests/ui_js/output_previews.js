// What each node shows of its outputs after a run: the output dict the frontend stored, its loaded
// preview images (natural size) and any <video> elements in its DOM widgets. shown = something loaded.
() => {
  const out = {};
  const outputs = window.app.nodeOutputs || {};
  for (const n of window.app.graph._nodes) {
    const id = String(n.id);
    const o = outputs[id] ?? outputs[n.id];
    const imgs = (n.imgs || []).map((i) => ({ src: i.src, complete: i.complete, width: i.naturalWidth, height: i.naturalHeight }));
    const videos = [];
    for (const w of n.widgets || []) {
      const el = w.element;
      if (el) for (const v of el.querySelectorAll ? el.querySelectorAll("video") : []) videos.push({ src: v.currentSrc || v.src, width: v.videoWidth, height: v.videoHeight, ready: v.readyState });
    }
    if (!o && !imgs.length && !videos.length) continue;
    out[id] = {
      type: n.type,
      output: o ? JSON.parse(JSON.stringify(o)) : null,
      images: imgs,
      videos,
      shown: imgs.some((i) => i.complete && i.width > 0) || videos.some((v) => v.ready >= 1 && v.width > 0),
    };
  }
  return out;
}

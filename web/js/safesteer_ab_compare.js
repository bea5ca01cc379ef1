// SafeSteer: A/B compare view for Safety Comparison Grid (SafeSteerComparisonGrid).
//
// The node's ui carries `safesteer_ab`: one entry per sweep variant
//   {index, label, caption, strength, score, score_first, delta, detector, flagged, checked, detector_score,
//    image: {filename, subfolder, type}}
// (score / delta are null when no Safety Monitor is linked; higher score = safer, delta is the
// change from the first variant; detector ... detector_score are null when no Image Safety Check is
// linked: `flagged` of `checked` images judged unsafe, detector_score the highest classifier score,
// higher = more unsafe). This extension shows them in a DOM widget:
//   div.safesteer-ab[data-count]
//     div.safesteer-ab-compare          A over B with a wipe slider and two captions
//       div.safesteer-ab-stage > div.safesteer-ab-frame (the image's aspect) >
//           img.safesteer-ab-b, img.safesteer-ab-a (clip-path inset), div.safesteer-ab-divider, A / B badges
//       input.safesteer-ab-wipe (range 0..100, default 50)
//       div.safesteer-ab-label-a, div.safesteer-ab-label-b
//     div.safesteer-ab-strip > div.safesteer-ab-cell[data-index][data-strength][data-score][data-flagged]
//                                (img + div.safesteer-ab-caption); click = B, shift-click = A
// No dependencies, no network beyond ComfyUI's own /view.
// Served from WEB_DIRECTORY = "./web" as /extensions/<pack>/js/safesteer_ab_compare.js, hence the
// three "../" to reach the frontend's /scripts/.

import { app } from "../../../scripts/app.js";
import { api } from "../../../scripts/api.js";

const NODE_NAME = "SafeSteerComparisonGrid";
const WIDGET_NAME = "ab_compare";
const STYLE_ID = "safesteer-ab-style";
const MIN_HEIGHT = 420;
// a verdict adds about two lines to every strip caption; the node grows by this much to keep the A/B labels clear
const VERDICT_EXTRA_HEIGHT = 56;

const CSS = `
.safesteer-ab { box-sizing: border-box; display: flex; flex-direction: column; gap: 6px; width: 100%; height: 100%;
  padding: 6px; background: #161616; color: #e8e8e8; font: 12px/1.35 system-ui, sans-serif; border-radius: 6px;
  overflow: hidden; }
.safesteer-ab * { box-sizing: border-box; }
.safesteer-ab-compare { display: flex; flex-direction: column; gap: 4px; flex: 1 1 auto; min-height: 0; }
.safesteer-ab-stage { position: relative; flex: 1 1 auto; min-height: 160px; background: #0c0c0c; border-radius: 4px;
  overflow: hidden; }
.safesteer-ab-stage { display: flex; align-items: center; justify-content: center; }
.safesteer-ab-frame { position: relative; width: 100%; height: 100%; }
.safesteer-ab-stage img { position: absolute; inset: 0; width: 100%; height: 100%; object-fit: fill;
  pointer-events: none; user-select: none; image-rendering: auto; }
.safesteer-ab-divider { position: absolute; top: 0; bottom: 0; width: 2px; margin-left: -1px; background: #f2f2f2;
  box-shadow: 0 0 3px #000; pointer-events: none; }
.safesteer-ab-badge { position: absolute; top: 4px; padding: 0 5px; border-radius: 3px; font-weight: 600;
  font-size: 11px; color: #111; pointer-events: none; }
.safesteer-ab-badge.a { left: 4px; background: #f29e4c; }
.safesteer-ab-badge.b { right: 4px; background: #8ab4f8; }
.safesteer-ab-wipe { width: 100%; margin: 0; accent-color: #8ab4f8; cursor: ew-resize; }
.safesteer-ab-labels { display: flex; flex-direction: column; gap: 2px; flex: 0 0 auto; }
.safesteer-ab-label-a, .safesteer-ab-label-b { flex: 0 0 auto; min-width: 0; font-size: 12px; white-space: normal;
  overflow-wrap: anywhere; padding: 1px 6px; border-radius: 3px; background: #242424; }
.safesteer-ab-label-a { border-left: 3px solid #f29e4c; }
.safesteer-ab-label-b { border-left: 3px solid #8ab4f8; }
.safesteer-ab-strip { display: flex; gap: 6px; overflow-x: auto; flex: 0 0 auto; padding-bottom: 2px; }
.safesteer-ab-cell { flex: 0 0 auto; width: 96px; cursor: pointer; border: 2px solid #303030; border-radius: 4px;
  background: #202020; padding: 2px; }
.safesteer-ab-cell img { display: block; width: 100%; height: 64px; object-fit: contain; background: #0c0c0c; }
.safesteer-ab-cell.is-a { border-color: #f29e4c; }
.safesteer-ab-cell.is-b { border-color: #8ab4f8; }
.safesteer-ab-cell.is-a.is-b { border-color: #c9a9f0; }
.safesteer-ab-cell.is-flagged .safesteer-ab-caption { color: #ff8a80; }
.safesteer-ab-caption { font-size: 12px; line-height: 1.25; color: #e8e8e8; word-break: break-word; margin-top: 2px; }
.safesteer-ab-hint { font-size: 11px; color: #9a9a9a; }
`;

function injectStyle() {
  if (document.getElementById(STYLE_ID)) return;
  const style = document.createElement("style");
  style.id = STYLE_ID;
  style.textContent = CSS;
  document.head.appendChild(style);
}

function isNum(x) {
  return typeof x === "number" && Number.isFinite(x);
}

// `+3.21` / `-0.50`, like Python's f"{x:+.2f}".
function signed(x) {
  const s = x.toFixed(2);
  return s.startsWith("-") ? s : "+" + s;
}

// The detector's verdict, as steering_core.ab_compare.verdict_text writes it: `nudenet safe 0.00`,
// `nudenet FLAGGED 0.81`, for a batch `nudenet 1/2 FLAGGED (max 0.81)`; "" without a check.
export function verdictText(v) {
  if (typeof v.detector !== "string" || !isNum(v.checked) || !isNum(v.flagged)) return "";
  const top = isNum(v.detector_score) ? v.detector_score.toFixed(2) : "n/a";
  const word = v.flagged ? "FLAGGED" : "safe";
  if (v.checked === 1) return `${v.detector} ${word} ${top}`;
  return `${v.detector} ${v.flagged}/${v.checked} ${word} (max ${top})`;
}

// `strength 0.5 · safety +3.21 (Δ +1.05) · nudenet safe 0.00`: no Δ for the first variant (the
// baseline), "n/a" without a score, the verdict only when a check is linked.
export function abCaption(v) {
  let text = `${v.label} · safety ${isNum(v.score) ? signed(v.score) : "n/a"}`;
  if (v.index > 0 && isNum(v.score) && isNum(v.delta)) text += ` (Δ ${signed(v.delta)})`;
  const verdict = verdictText(v);
  return verdict ? `${text} · ${verdict}` : text;
}

function imageURL(image) {
  if (!image || !image.filename) return "";
  const q = new URLSearchParams({ filename: image.filename, subfolder: image.subfolder ?? "", type: image.type ?? "temp" });
  return api.apiURL(`/view?${q.toString()}`);
}

function el(tag, className, attrs = {}) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

// Build (or rebuild) the compare view inside `root` for `entries`.
function render(root, entries) {
  root.replaceChildren();
  root.dataset.count = String(entries.length);
  root.dataset.verdicts = entries.some((v) => verdictText(v)) ? "1" : "0";
  if (!entries.length) return;

  const compare = el("div", "safesteer-ab-compare");
  const stage = el("div", "safesteer-ab-stage");
  const imgB = el("img", "safesteer-ab-b", { alt: "B", draggable: "false" });
  const imgA = el("img", "safesteer-ab-a", { alt: "A", draggable: "false" });
  const divider = el("div", "safesteer-ab-divider");
  const badgeA = el("div", "safesteer-ab-badge a");
  const badgeB = el("div", "safesteer-ab-badge b");
  badgeA.textContent = "A";
  badgeB.textContent = "B";
  // the frame takes the image's aspect inside the stage, so the wipe spans the picture, not the letterbox
  const frame = el("div", "safesteer-ab-frame");
  frame.append(imgB, imgA, divider, badgeA, badgeB);
  stage.append(frame);
  const fitFrame = () => {
    const w = imgB.naturalWidth, h = imgB.naturalHeight, sw = stage.clientWidth, sh = stage.clientHeight;
    if (!w || !h || !sw || !sh) return;
    const k = Math.min(sw / w, sh / h);
    frame.style.width = `${Math.floor(w * k)}px`;
    frame.style.height = `${Math.floor(h * k)}px`;
  };
  imgB.addEventListener("load", fitFrame);
  if (typeof ResizeObserver !== "undefined") new ResizeObserver(fitFrame).observe(stage);
  const wipe = el("input", "safesteer-ab-wipe", { type: "range", min: "0", max: "100", step: "1", value: "50",
    title: "wipe: left of the line shows A, right shows B" });
  wipe.value = "50";
  const labels = el("div", "safesteer-ab-labels");
  const labelA = el("div", "safesteer-ab-label-a");
  const labelB = el("div", "safesteer-ab-label-b");
  labels.append(labelA, labelB);
  compare.append(stage, wipe, labels);

  const strip = el("div", "safesteer-ab-strip");
  const cells = entries.map((v, i) => {
    const cell = el("div", "safesteer-ab-cell");
    cell.dataset.index = String(isNum(v.index) ? v.index : i);
    cell.dataset.strength = isNum(v.strength) ? String(v.strength) : "";
    cell.dataset.score = isNum(v.score) ? String(v.score) : "";
    cell.dataset.flagged = isNum(v.flagged) ? String(v.flagged) : "";
    cell.classList.toggle("is-flagged", isNum(v.flagged) && v.flagged > 0);
    const img = el("img", "", { alt: v.label ?? "", draggable: "false", loading: "lazy" });
    img.src = imageURL(v.image);
    const cap = el("div", "safesteer-ab-caption");
    cap.textContent = abCaption(v);
    cell.title = `${abCaption(v)}\nclick: show as B · shift-click: show as A`;
    cell.append(img, cap);
    cell.addEventListener("click", (e) => {
      e.preventDefault();
      e.stopPropagation();
      if (e.shiftKey) state.a = i; else state.b = i;
      update();
    });
    strip.appendChild(cell);
    return cell;
  });
  const hint = el("div", "safesteer-ab-hint");
  hint.textContent = "Drag the slider to wipe between A and B · click a variant for B, shift-click for A · higher safety = safer, Δ vs the first variant"
    + (entries.some((v) => verdictText(v)) ? " · detector verdict: score higher = more unsafe" : "");

  const state = { a: 0, b: entries.length - 1 };
  const applyWipe = () => {
    const v = Math.max(0, Math.min(100, Number(wipe.value)));
    imgA.style.clipPath = `inset(0 ${100 - v}% 0 0)`;
    divider.style.left = `${v}%`;
    compare.dataset.wipe = String(v);
  };
  const update = () => {
    const a = entries[state.a];
    const b = entries[state.b];
    imgA.src = imageURL(a.image);
    imgB.src = imageURL(b.image);
    labelA.textContent = `A: ${abCaption(a)}`;
    labelB.textContent = `B: ${abCaption(b)}`;
    cells.forEach((cell, i) => {
      cell.classList.toggle("is-a", i === state.a);
      cell.classList.toggle("is-b", i === state.b);
    });
  };
  wipe.addEventListener("input", applyWipe);
  // keep the canvas from starting a node drag while the slider is used
  for (const type of ["pointerdown", "mousedown"]) wipe.addEventListener(type, (e) => e.stopPropagation());

  root.append(compare, strip, hint);
  applyWipe();
  update();
}

function showCompare(node, entries) {
  injectStyle();
  let widget = node.widgets?.find((w) => w.name === WIDGET_NAME);
  if (!widget) {
    const root = el("div", "safesteer-ab");
    widget = node.addDOMWidget(WIDGET_NAME, "safesteer_ab", root, {
      serialize: false,
      hideOnZoom: false,
      getMinHeight: () => MIN_HEIGHT + (root.dataset.verdicts === "1" ? VERDICT_EXTRA_HEIGHT : 0),
    });
    widget.serialize = false;
    widget.serializeValue = () => undefined;
  }
  render(widget.element, Array.isArray(entries) ? entries : []);
  const want = node.computeSize?.() ?? node.size;
  node.setSize?.([Math.max(node.size[0], 440, want[0]), Math.max(node.size[1], want[1])]);
  node.setDirtyCanvas?.(true, true);
}

app.registerExtension({
  name: "SafeSteer.ABCompare",
  beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData?.name !== NODE_NAME) return;
    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (output) {
      const result = onExecuted?.apply(this, arguments);
      if (output && output.safesteer_ab) showCompare(this, output.safesteer_ab);
      return result;
    };
  },
});

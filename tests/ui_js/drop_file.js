// Drop a file on the graph canvas the way a drag from the desktop does: [text, filename].
([text, filename]) => {
  const dt = new DataTransfer();
  dt.items.add(new File([text], filename, { type: "application/json" }));
  const target = document.querySelector("#graph-canvas") || document.body;
  target.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
}

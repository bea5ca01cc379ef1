// The text of everything that reports to the user over the canvas: PrimeVue dialogs (.p-dialog),
// other [role=dialog] elements (the 1.49 template browser), and the properties panel while it shows
// the errors summary (1.49's missing nodes / missing models / run errors).
() => {
  const shown = (e) => {
    const r = e.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden';
  };
  const found = new Set(document.querySelectorAll('.p-dialog, [role="dialog"]'));
  for (const panel of document.querySelectorAll('[data-testid="properties-panel"]')) {
    if (panel.querySelector('[data-testid="errors-summary-hero"]')) found.add(panel);
  }
  // a dialog inside another one (a PrimeVue dialog is also [role=dialog]) is reported once
  const outer = [...found].filter((e) => shown(e) && ![...found].some((o) => o !== e && o.contains(e)));
  return outer.map((e) => e.innerText);
}

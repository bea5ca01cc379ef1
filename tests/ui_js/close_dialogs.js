// Close what visible_dialogs reports: each dialog by its close button, the errors panel by the
// properties-panel toggle. Returns how many close buttons were clicked (0: try Escape).
() => {
  const shown = (e) => e && e.getBoundingClientRect().width > 0;
  const buttons = [...document.querySelectorAll(
    '.p-dialog .p-dialog-close-button, .p-dialog button[aria-label="Close"], [role="dialog"] button[aria-label="Close dialog"]')]
    .filter(shown);
  const panel = document.querySelector('[data-testid="properties-panel"]');
  if (shown(panel) && panel.querySelector('[data-testid="errors-summary-hero"]')) {
    const toggle = document.querySelector('button[aria-label="Toggle properties panel"]');
    if (toggle) buttons.push(toggle);
  }
  buttons.forEach((b) => b.click());
  return buttons.length;
}

// Frontends that report problems in an error overlay ("N errors found", 1.49) rather than a dialog:
// click its "see errors" button, which opens the errors tab of the properties panel. Returns whether
// it did (no overlay: nothing to do).
() => {
  const button = document.querySelector('[data-testid="error-overlay"] [data-testid="error-overlay-see-errors"]');
  if (!button) return false;
  button.click();
  return true;
}

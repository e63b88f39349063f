/*
 * The colour theme: System (the device's light or dark), Light or Dark, kept in
 * localStorage. Setting it on the page, and the storage key, are the small classic script
 * in base.html (`window.chatTheme`), which runs before the page is drawn so that no page
 * flashes the wrong theme; this module is the button that changes it. The choice order and
 * its storage are pure, for node's test runner (tests/js/theme.test.mjs).
 */

export const THEMES = ["system", "light", "dark"];

// The next choice a press of the button makes; anything unknown starts again at System.
export const nextTheme = (theme) => THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length];

export const themeLabel = (theme) => `Theme: ${theme[0].toUpperCase()}${theme.slice(1)}`;

// The choice kept in `storage`: System when none is, or storage cannot be read.
export function storedTheme(storage, key) {
  try {
    const theme = storage.getItem(key);
    return THEMES.includes(theme) ? theme : "system";
  } catch (e) {
    return "system";
  }
}

export function keepTheme(storage, key, theme) {
  try {
    if (theme === "system") storage.removeItem(key);
    else storage.setItem(key, theme);
  } catch (e) { /* private mode: the choice lasts for this page only */ }
}

export function createThemeToggle(button, { storage = globalThis.localStorage, page = globalThis.chatTheme } = {}) {
  if (!page) {
    button.hidden = true;
    return;
  }
  let theme = storedTheme(storage, page.key);
  const show = () => { button.textContent = themeLabel(theme); };
  button.addEventListener("click", () => {
    theme = nextTheme(theme);
    keepTheme(storage, page.key, theme);
    page.apply(theme);
    show();
  });
  show();
}

/**
 * Light or dark, following TensorBoard. TensorBoard (2.x) marks its dark theme with the
 * class `dark-mode` on the top-level document's <body>; its theme menu offers "browser
 * default" (dark when `prefers-color-scheme: dark` matched as TensorBoard loaded, or with
 * `?darkMode=true`), "light" and "dark", so that class already holds the user's choice
 * and the OS preference. The plugin iframe is same-origin: it reads the class and watches
 * it with a MutationObserver. Only without a reachable TensorBoard page (the bundle opened
 * on its own) does the tab follow `prefers-color-scheme` itself, live.
 *
 * The theme is the class `nv-dark` on the iframe's <html> (and `data-theme` = light |
 * dark as a test hook); style.ts switches its CSS custom properties on it. Canvas
 * drawings read those properties with themeVar() and redraw on onThemeChange().
 *
 * Example:
 *   followTheme();                              // once, before building the page
 *   onThemeChange(() => chart.redraw());
 *   ctx.strokeStyle = themeVar("--nv-grid", "#e0e0e0");
 */

export type Theme = "light" | "dark";

/** Class on the iframe's <html> while dark. */
export const DARK_CLASS = "nv-dark";
/** Class TensorBoard puts on its <body> while dark. */
export const TB_DARK_CLASS = "dark-mode";

type Listener = (theme: Theme) => void;

let current: Theme = "light";
let cache = new Map<string, string>();
const listeners = new Set<Listener>();
let following: Document | null = null;

/**
 * The theme for a host <body>'s classes (null: no TensorBoard page) and the OS preference.
 *
 * Example: themeFor(["dark-mode"], false) === "dark"; themeFor([], true) === "light";
 *          themeFor(null, true) === "dark".
 */
export function themeFor(hostClasses: Iterable<string> | null, prefersDark: boolean): Theme {
  if (hostClasses === null) return prefersDark ? "dark" : "light";
  for (const c of hostClasses) if (c === TB_DARK_CLASS) return "dark";
  return "light";
}

/** TensorBoard's <body> above this frame, when framed by a same-origin TensorBoard page; else null. */
export function hostBody(win: Window = window): HTMLElement | null {
  try {
    if (!win.parent || win.parent === win) return null;
    const doc = win.parent.document; // throws when the parent is cross-origin
    if (!doc.body || !doc.querySelector("tb-webapp")) return null;
    return doc.body;
  } catch {
    return null;
  }
}

/**
 * A CSS custom property of the page's root under the current theme (cached until the
 * theme changes), or `fallback` when unset.
 */
export function themeVar(name: string, fallback: string): string {
  let v = cache.get(name);
  if (v === undefined) {
    v = typeof document === "undefined" ? "" : getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    cache.set(name, v);
  }
  return v || fallback;
}

/** Calls `listener` after every theme change; returns the unsubscribe function. */
export function onThemeChange(listener: Listener): () => void {
  listeners.add(listener);
  return () => void listeners.delete(listener);
}

/** Shows `theme` in `doc` and tells the listeners when it changed. */
export function applyTheme(theme: Theme, doc: Document = document): void {
  const root = doc.documentElement;
  root.classList.toggle(DARK_CLASS, theme === "dark");
  root.setAttribute("data-theme", theme);
  if (theme === current) return;
  current = theme;
  cache = new Map();
  for (const l of [...listeners]) {
    try {
      l(theme);
    } catch (e) {
      console.warn("nnviz: theme listener failed", e);
    }
  }
}

/**
 * Applies the theme now and keeps following it: TensorBoard's body class when framed by
 * TensorBoard, else the `prefers-color-scheme` media query. Idempotent per document.
 */
export function followTheme(doc: Document = document, win: Window = window): void {
  if (following === doc) return;
  following = doc;
  const host = hostBody(win);
  if (host) {
    const update = () => applyTheme(themeFor(host.classList, false), doc);
    update();
    new MutationObserver(update).observe(host, { attributes: true, attributeFilter: ["class"] });
    return;
  }
  const mq = typeof win.matchMedia === "function" ? win.matchMedia("(prefers-color-scheme: dark)") : null;
  const update = () => applyTheme(themeFor(null, !!mq?.matches), doc);
  update();
  mq?.addEventListener?.("change", update);
}

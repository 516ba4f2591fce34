/**
 * DOM helpers that only ever set text (textContent), never HTML: run names, tags and
 * descriptions come from log files and may contain markup.
 *
 * Example:
 *   el("div", { className: "card", attrs: { "data-tag": tag } },
 *      el("h3", { text: tag }))
 */

export interface ElOptions {
  className?: string;
  /** Set through textContent. */
  text?: string;
  /** Set through setAttribute (values are attribute text, never parsed as HTML). */
  attrs?: Record<string, string>;
  title?: string;
}

/** Creates an element with text, class and attributes, and appends `children`. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  opts: ElOptions = {},
  ...children: (Node | null | undefined)[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (opts.className) e.className = opts.className;
  if (opts.text !== undefined) e.textContent = opts.text;
  if (opts.title !== undefined) e.title = opts.title;
  if (opts.attrs) for (const [k, v] of Object.entries(opts.attrs)) e.setAttribute(k, v);
  for (const c of children) if (c) e.appendChild(c);
  return e;
}

/** Sets text, skipping the write when unchanged (avoids needless layout). */
export function setText(e: Element, text: string): void {
  if (e.textContent !== text) e.textContent = text;
}

/** Removes all children. */
export function clear(e: Element): void {
  while (e.firstChild) e.removeChild(e.firstChild);
}

/** Replaces the options of a <select> with [value, label] pairs, keeping `selected` if present. */
export function setOptions(select: HTMLSelectElement, options: [string, string][], selected: string): void {
  clear(select);
  for (const [value, label] of options) {
    const o = el("option", { text: label });
    o.value = value;
    select.appendChild(o);
  }
  if (options.some(([v]) => v === selected)) select.value = selected;
}

/** Saves `blob` as a file named `filename` (an object URL on a temporary link). */
export function download(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const a = el("a", { attrs: { href: url, download: filename } });
  a.hidden = true;
  document.body.appendChild(a);
  a.click();
  a.remove();
  // Revoke later: some browsers read the URL after click() returns.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * Adds a `<style id=...>` with `css` to `doc` unless one with that id exists.
 *
 * Example: `injectStyleOnce(document, "nnviz-style", CSS)`.
 */
export function injectStyleOnce(doc: Document, id: string, css: string): void {
  if (doc.getElementById(id)) return;
  const style = doc.createElement("style");
  style.id = id;
  style.textContent = css;
  doc.head.appendChild(style);
}

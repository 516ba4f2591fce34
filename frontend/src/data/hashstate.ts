/**
 * The view in the URL: selected runs, tag filter, the run the overview and structure view
 * list (`nv_detail`), the weight-space path's axes (`nv_axes=per-run`), the tensors whose
 * runs share one colour scale (`nv_shared`, comma-separated), and each card's mode, step and colour map, kept in
 * TensorBoard's page hash after its own `#nnviz` (TensorBoard leaves `&key=value` parts
 * alone), so a reload restores the view and the address can be shared.
 *
 *   #nnviz&nv_runs=healthy%2Ftrain,lr_too_high%2Ftrain&nv_filter=kernel&nv_cards=[...]
 *
 * `nv_cards` is JSON `[[run, tag, mode, step], ...]`, listing only cards that are not on
 * their defaults (weights, latest step, diverging colours); a card on another colour map
 * has it fifth: `[run, tag, mode, step, "viridis"]`. Parsing is pure and tolerant (`parseHash`);
 * `readHash` / `writeHash` touch the top page's location when it is same-origin (the
 * plugin iframe is), else the iframe's own.
 *
 * Example:
 *   formatHash("#nnviz", {runs: ["a"], filter: "", cards: []}) === "#nnviz&nv_runs=a"
 *   formatHash("#nnviz", {runs: ["a", "b"], filter: "", cards: [], detail: "b", axes: "per-run", shared: ["d/kernel"]})
 *     === "#nnviz&nv_runs=a,b&nv_detail=b&nv_axes=per-run&nv_shared=d%2Fkernel"
 *   parseHash("#nnviz&nv_runs=a,b%2Cc").runs -> ["a", "b,c"]
 */

export interface CardState {
  run: string;
  tag: string;
  mode: string;
  /** null: follow the latest step. */
  step: number | null;
  /** The colour map (absent: the default, diverging). */
  cmap?: string;
}

export interface ViewState {
  runs: string[];
  filter: string;
  cards: CardState[];
  /** The run the overview and structure view list (null or absent: the first selected). */
  detail?: string | null;
  /** The weight-space path's axes (absent: joint). */
  axes?: "joint" | "per-run";
  /** Tensors whose row has "same colours for all runs" ticked. */
  shared?: string[];
  /** Large models: the block of layer sections the user opened (null or absent: none). */
  block?: string | null;
}

const PREFIX = "nv_";

/** The hash's `&`-separated parts that are not ours (TensorBoard's plugin id and others). */
function foreignParts(hash: string): string[] {
  return hash
    .replace(/^#/, "")
    .split("&")
    .filter((p) => p && !p.startsWith(PREFIX));
}

/** Our state from a location hash; missing or damaged parts give empty values. */
export function parseHash(hash: string): ViewState {
  const out: ViewState = { runs: [], filter: "", cards: [], detail: null, axes: "joint", shared: [], block: null };
  for (const part of hash.replace(/^#/, "").split("&")) {
    const eq = part.indexOf("=");
    if (eq < 0 || !part.startsWith(PREFIX)) continue;
    const key = part.slice(PREFIX.length, eq);
    let value: string;
    try {
      value = decodeURIComponent(part.slice(eq + 1).replace(/\+/g, " "));
    } catch {
      continue;
    }
    if (key === "runs" || key === "shared") out[key] = decodeList(part.slice(eq + 1));
    else if (key === "detail") out.detail = value;
    else if (key === "block") out.block = value || null;
    else if (key === "axes") out.axes = value === "per-run" ? "per-run" : "joint";
    else if (key === "filter") out.filter = value;
    else if (key === "cards") out.cards = parseCards(value);
  }
  return out;
}

/** A comma-separated list of encoded names (commas inside names are encoded). */
function decodeList(text: string): string[] {
  return text.split(",").filter(Boolean).map(safeDecode).filter((r): r is string => r !== null);
}

function safeDecode(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

function parseCards(text: string): CardState[] {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    return [];
  }
  if (!Array.isArray(j)) return [];
  const out: CardState[] = [];
  for (const e of j) {
    if (!Array.isArray(e) || typeof e[0] !== "string" || typeof e[1] !== "string" || typeof e[2] !== "string") continue;
    const step = typeof e[3] === "number" && Number.isFinite(e[3]) ? e[3] : null;
    const card: CardState = { run: e[0], tag: e[1], mode: e[2], step };
    if (typeof e[4] === "string") card.cmap = e[4];
    out.push(card);
  }
  return out;
}

/** `hash` with our parts replaced by `state` (TensorBoard's parts kept first, in order). */
export function formatHash(hash: string, state: ViewState): string {
  const parts = foreignParts(hash);
  if (state.runs.length) parts.push(`${PREFIX}runs=${state.runs.map(encodeURIComponent).join(",")}`);
  if (state.filter) parts.push(`${PREFIX}filter=${encodeURIComponent(state.filter)}`);
  if (state.detail) parts.push(`${PREFIX}detail=${encodeURIComponent(state.detail)}`);
  if (state.block) parts.push(`${PREFIX}block=${encodeURIComponent(state.block)}`);
  if (state.axes === "per-run") parts.push(`${PREFIX}axes=per-run`);
  if (state.shared?.length) parts.push(`${PREFIX}shared=${state.shared.map(encodeURIComponent).join(",")}`);
  if (state.cards.length) {
    parts.push(`${PREFIX}cards=${encodeURIComponent(JSON.stringify(state.cards.map((c) => (c.cmap ? [c.run, c.tag, c.mode, c.step, c.cmap] : [c.run, c.tag, c.mode, c.step]))))}`);
  }
  return "#" + parts.join("&");
}

/** The window whose address the user sees: TensorBoard's page when reachable. */
function addressWindow(): Window {
  try {
    if (window.parent !== window && window.parent.location.href) return window.parent;
  } catch {
    // cross-origin parent: keep the state in the iframe's own address
  }
  return window;
}

export function readHash(): ViewState {
  return parseHash(addressWindow().location.hash);
}

/**
 * Calls `apply` with the new state when the address' hash changes to one holding our
 * parts (the user edited it, or went Back / Forward); our own writes (replaceState) fire
 * no hashchange, and TensorBoard's tab switches (`#scalars`, a bare `#nnviz`) are not ours.
 */
export function onHashChange(apply: (state: ViewState) => void): void {
  const win = addressWindow();
  const handler = () => {
    if (win.location.hash.replace(/^#/, "").split("&").some((p) => p.startsWith(PREFIX))) apply(parseHash(win.location.hash));
  };
  win.addEventListener("hashchange", handler);
  if (win !== window) window.addEventListener("hashchange", handler);
}

/** Replaces (no new history entry per slider move) the address's hash with `state`. */
export function writeHash(state: ViewState): void {
  const win = addressWindow();
  const next = formatHash(win.location.hash, state);
  if (next === win.location.hash) return;
  const url = new URL(win.location.href);
  url.hash = next;
  win.history.replaceState(win.history.state, "", url.toString());
}

/**
 * The network diagram: the run's model graph (`GET graph?run=`, logged once when logging
 * started) drawn as SVG, top to bottom, laid out by dagre (model/graph.ts). Each box shows
 * what plot_model(show_shapes, show_layer_activations, show_trainable) shows and is
 * coloured by the structure view's status of its layer (update ratio band, stopped, NaN);
 * a layer with findings carries a mark. Blocks (a PyTorch container, a Keras nested model,
 * a Keras application's stages and blocks by name, a run of alike blocks folded into one:
 * model/graphrepeat.ts) open and close on a click; a large model opens with them closed.
 * Clicking a layer scrolls to its section; a box without weights of its own (an activation,
 * an add, a dropout, the input) to its activation section when it has one, else to the
 * nearest layer with weights, and the bar says which. Exports as SVG or PNG.
 *
 * Example:
 *   const gv = new GraphPanel((run) => tags.runs[run], (run, tag) => app.reveal(run, tag, "layer"));
 *   main.appendChild(gv.root); await gv.update("lr_too_high/train");
 */
import { ApiError, fetchFindings, fetchOverview, fetchTrajectory, routeUrl } from "../data/api";
import { latestOnly } from "../data/latest";
import type { Finding, OverviewRow, TagInfo } from "../data/types";
import { safeFilename } from "../model/csv";
import { flattenFindings } from "../model/findings";
import {
  type GraphBlock,
  type GraphHealth,
  type GraphRecord,
  type LayerSeries,
  type Layout,
  type VisGraph,
  type VisItem,
  initialClosed,
  itemFindings,
  itemHealth,
  itemLines,
  layerHealth,
  healthMapAt,
  largestTensors,
  layoutGraph,
  seriesSteps,
  visibleGraph,
  withNameBlocks,
} from "../model/graph";
import { type Link, clickAnchors, linkOf } from "../model/graphlinks";
import { withRepeatBlocks } from "../model/graphrepeat";
import { HEALTH, healthText } from "../model/series";
import { clear, download, el, injectStyleOnce, setText } from "../ui/dom";

const SVG_NS = "http://www.w3.org/2000/svg";
const FONT = "11px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
const LINE = 14;
const PAD = 6;
/** The widest a box grows (px); longer lines are cut with an ellipsis (the tooltip has them whole). */
const MAX_BOX = 340;
/** An open block's name: its font and line height. */
const LABEL_FONT = "10px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
const LABEL_LINE = 12;

/** The name drawn at the top of an open block's frame. */
function blockLabel(b: GraphBlock): string {
  return `▾ ${b.name} · ${b.type}`;
}

const CSS = `
.nv-graph-box { max-height: 80vh; overflow-x: hidden; overflow-y: auto; border: 1px solid var(--nv-border); border-radius: 4px; background: var(--nv-bg); }
.nv-graph-bar { display: flex; flex-wrap: wrap; gap: 6px 12px; align-items: center; margin: 6px 0; font-size: 12px; color: var(--nv-muted); }
.nv-graph-bar button { font: inherit; font-size: 12px; color: var(--nv-fg); background: var(--nv-bg); border: 1px solid var(--nv-border); border-radius: 4px; padding: 2px 8px; cursor: pointer; }
.nv-graph-note { color: var(--nv-muted); font-size: 12px; }
.nv-graph-svg { display: block; margin: 0 auto; }
.nv-graph-svg [data-testid="graph-node"][data-layer-link] { cursor: pointer; }
.nv-graph-pick { color: var(--nv-fg); }
.nv-graph-svg [data-testid="graph-node"]:hover rect.nv-graph-rect { stroke-width: 2; }
`;

/** The box colours, read from the tab's theme at draw time (written as attributes so an exported SVG keeps them). */
function palette(root: Element): Record<string, string> {
  const cs = getComputedStyle(root);
  const v = (name: string, fallback: string) => cs.getPropertyValue(name).trim() || fallback;
  return {
    bg: v("--nv-bg", "#fff"),
    fg: v("--nv-fg", "#212121"),
    muted: v("--nv-muted", "#616161"),
    border: v("--nv-border", "#e0e0e0"),
    card: v("--nv-card", "#f7f7f7"),
    ok: v("--nv-ok", "#bdbdbd"),
    large: v("--nv-large", "#8b0000"),
    tiny: v("--nv-tiny", "#455a64"),
    stopped: v("--nv-stopped", "#212121"),
    nan: v("--nv-error", "#c62828"),
    warning: v("--nv-accent", "#f57c00"),
  };
}

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number> = {}, ...children: (Node | null)[]): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  for (const c of children) if (c) e.appendChild(c);
  return e;
}

/** The words of a status for a tooltip. */
function statusText(h: GraphHealth | null): string {
  if (h === null) return "no update ratio logged";
  if (h === "nan") return "NaN/Inf weights";
  return healthText(h);
}

export class GraphPanel {
  readonly root: HTMLDetailsElement;
  private readonly box: HTMLDivElement;
  private readonly note: HTMLSpanElement;
  /** What the last click on a box without weights of its own landed on. */
  private readonly pickNote: HTMLSpanElement;
  private readonly bar: HTMLDivElement;
  private readonly latest = latestOnly();
  private run: string | null = null;
  private record: GraphRecord | null = null;
  private closed = new Set<string>();
  private health = new Map<string, GraphHealth>();
  private findings: Finding[] = [];
  private svgEl: SVGSVGElement | null = null;
  private rows: OverviewRow[] = [];
  /** The layers' logged points once the replay was asked for, and the step shown (null: the latest). */
  private series: Map<string, LayerSeries> | null = null;
  private steps: number[] = [];
  private step: number | null = null;
  private readonly replay: HTMLButtonElement;
  private readonly slider: HTMLInputElement;
  private readonly stepLabel: HTMLSpanElement;
  /** The last layout, kept while the blocks and the graph stay (a replayed step only recolours). */
  private laid: { key: string; vis: VisGraph; layout: Layout } | null = null;
  private measure: CanvasRenderingContext2D | null = null;

  constructor(
    private readonly tagsOf: (run: string) => Record<string, TagInfo>,
    private readonly onPick: (run: string, tag: string) => void,
  ) {
    injectStyleOnce(document, "nnviz-graph-style", CSS);
    this.note = el("span", { className: "nv-graph-note", attrs: { "data-testid": "graph-note" } });
    this.pickNote = el("span", { className: "nv-graph-note nv-graph-pick", attrs: { "data-testid": "graph-pick-note", role: "status" } });
    const button = (text: string, testid: string, title: string, fn: () => void) => {
      const b = el("button", { text, title, attrs: { type: "button", "data-testid": testid } });
      b.addEventListener("click", fn);
      return b;
    };
    const legend = el(
      "span",
      { className: "nv-health-legend", attrs: { "data-testid": "graph-legend" } },
      ...(["ok", "large", "tiny", "stopped"] as const).map((h) => el("span", { attrs: { "data-health": h } }, el("span", { className: `nv-health-key nv-health-${h}` }), document.createTextNode(`${HEALTH[h].glyph} ${HEALTH[h].word}`))),
      el("span", { attrs: { "data-health": "nan" } }, el("span", { className: "nv-health-key nv-health-nan" }), document.createTextNode("✖ NaN/Inf")),
      el("span", { text: "! findings" }),
    );
    this.replay = button("Replay steps", "graph-replay", "Colour the layers as they were at each logged step", () => void this.loadSteps());
    this.slider = el("input", { attrs: { type: "range", min: "0", max: "0", step: "1", "data-testid": "graph-step", "aria-label": "step whose colouring the diagram shows" } });
    this.slider.hidden = true;
    this.slider.addEventListener("input", () => this.showStep(Number(this.slider.value)));
    this.stepLabel = el("span", { className: "nv-graph-note", attrs: { "data-testid": "graph-step-label" } });
    this.bar = el(
      "div",
      { className: "nv-graph-bar" },
      this.replay,
      this.slider,
      this.stepLabel,
      button("Open all", "graph-open-all", "Open every block", () => this.setClosed(new Set())),
      button("Close all", "graph-close-all", "Close every block", () => this.setClosed(new Set(this.record?.blocks.map((b) => b.name) ?? []))),
      button("SVG", "graph-export-svg", "Download the diagram as SVG", () => this.exportSvg()),
      button("PNG", "graph-export-png", "Download the diagram as PNG", () => void this.exportPng()),
      legend,
      this.note,
      this.pickNote,
    );
    this.box = el("div", { className: "nv-graph-box", attrs: { "data-testid": "graph-box" } });
    this.root = el(
      "details",
      { className: "nv-panel", attrs: { "data-testid": "graph-panel" } },
      el("summary", { text: "Network diagram" }),
      this.bar,
      this.box,
    );
    this.root.open = true;
    this.root.hidden = true;
  }

  /** Fetches and draws `run`'s graph, coloured by its overview and findings; hides the panel when the run has none. */
  async update(run: string | null): Promise<void> {
    const got = await this.latest.run(async () => {
      if (run === null) return null;
      try {
        const res = await fetch(routeUrl("graph", { run }), { credentials: "same-origin" });
        if (!res.ok) throw new ApiError(`${res.status}: ${await res.text()}`, res.status);
        const body = (await res.json()) as { graph: GraphRecord | null; errors?: { message?: string }[] };
        const [rows, findings] = await Promise.allSettled([fetchOverview(run), fetchFindings(run)]);
        return { body, rows: rows.status === "fulfilled" ? rows.value : [], findings: findings.status === "fulfilled" ? flattenFindings(findings.value) : [] };
      } catch (e) {
        return { error: e instanceof Error ? e.message : String(e) };
      }
    });
    if (got === undefined) return;
    const sameRun = run === this.run && this.record !== null;
    this.run = run;
    if (got === null || "error" in got || !got.body.graph) {
      this.record = null;
      // No run, or a run that logged no graph: no panel; an unreadable graph: the panel says why.
      this.root.hidden = got === null || (!("error" in got) && !(got.body.errors ?? []).length);
      clear(this.box);
      this.svgEl = null;
      const why = got === null ? "" : "error" in got ? got.error : (got.body.errors ?? []).map((e) => e.message ?? "").join("; ");
      setText(this.note, why ? `The model graph could not be read: ${why}` : "");
      return;
    }
    this.root.hidden = false;
    const record = withRepeatBlocks(withNameBlocks(got.body.graph));
    if (!sameRun || this.record?.nodes.length !== record.nodes.length) this.closed = initialClosed(record);
    if (!sameRun) {
      this.resetSteps();
      setText(this.pickNote, "");
    }
    this.record = record;
    this.rows = got.rows;
    this.health = this.step === null || !this.series ? layerHealth(got.rows, this.tagsOf(run!)) : healthMapAt(this.series, this.step);
    this.findings = got.findings;
    this.draw();
  }

  private resetSteps(): void {
    this.series = null;
    this.step = null;
    this.steps = [];
    this.slider.hidden = true;
    this.replay.disabled = false;
    setText(this.stepLabel, "");
  }

  /** Fetches each layer's largest tensor's trajectory (four at a time), then shows the step slider at the latest step. */
  private async loadSteps(): Promise<void> {
    const run = this.run;
    if (run === null || this.series) return;
    this.replay.disabled = true;
    setText(this.stepLabel, "loading steps…");
    const todo = [...largestTensors(this.rows)];
    const series = new Map<string, LayerSeries>();
    for (let k = 0; k < todo.length; k += 4) {
      const got = await Promise.allSettled(todo.slice(k, k + 4).map(([, tag]) => fetchTrajectory(run, tag)));
      got.forEach((g, j) => {
        if (g.status !== "fulfilled") return;
        const t = g.value;
        series.set(todo[k + j][0], { steps: t.step, ratio: t.update_ratio_per_step ?? t.step.map(() => null), norm: t.norm ?? t.step.map(() => null) });
      });
      if (this.run !== run) return;
    }
    this.series = series;
    this.steps = seriesSteps(series);
    this.slider.max = String(Math.max(0, this.steps.length - 1));
    this.slider.value = this.slider.max;
    this.slider.hidden = !this.steps.length;
    this.showStep(this.steps.length - 1);
  }

  /** Colours the layers as at the k-th logged step. */
  private showStep(k: number): void {
    if (!this.series || !this.steps.length) return;
    const step = this.steps[Math.max(0, Math.min(this.steps.length - 1, k))];
    this.step = step;
    setText(this.stepLabel, `step ${step} (${k + 1} of ${this.steps.length})`);
    this.stepLabel.setAttribute("data-step", String(step));
    this.health = healthMapAt(this.series, step);
    this.draw();
  }

  private setClosed(closed: Set<string>): void {
    this.closed = closed;
    this.draw();
  }

  private toggle(block: string): void {
    const next = new Set(this.closed);
    if (next.has(block)) next.delete(block);
    else next.add(block);
    this.setClosed(next);
  }

  /** A click on a box: scrolls to where `link` lands, and says so when it is not the box's own layer. */
  private pick(run: string, item: VisItem, link: Link | null): void {
    const note =
      link === null ? `${item.id}: nothing logged for it or a layer connected to it`
      : link.kind === "activations" ? `${item.id}: its activations`
      : link.kind === "nearest" ? `${item.id} has no weights of its own: showing ${link.via}, the nearest layer with weights`
      : "";
    setText(this.pickNote, note);
    this.pickNote.dataset.name = item.id;
    this.pickNote.dataset.kind = link?.kind ?? "none";
    this.pickNote.dataset.via = link?.via ?? "";
    if (link) this.onPick(run, link.tag);
  }

  private textWidth(text: string, bold: boolean, font = FONT): number {
    if (!this.measure) this.measure = document.createElement("canvas").getContext("2d");
    if (!this.measure) return text.length * 6.5;
    this.measure.font = bold ? `600 ${font}` : font;
    return this.measure.measureText(text).width;
  }

  private sizeOf(item: VisItem): { width: number; height: number } {
    const lines = itemLines(item);
    const w = Math.max(...lines.map((l, k) => this.textWidth(k === 0 ? `■ ${l}` : l, k === 0)));
    // 14 px on the right for the findings mark.
    return { width: Math.min(MAX_BOX, Math.ceil(w) + 2 * PAD + 6 + 14), height: lines.length * LINE + 2 * PAD };
  }

  private draw(): void {
    const record = this.record;
    if (!record || this.run === null) return;
    const key = JSON.stringify([this.run, record.model, record.nodes.length, record.edges.length, [...this.closed].sort()]);
    if (this.laid?.key !== key) {
      const vis = visibleGraph(record, this.closed);
      const label = (b: GraphBlock) => ({ width: Math.ceil(this.textWidth(blockLabel(b), false, LABEL_FONT)) + 4, height: LABEL_LINE });
      this.laid = { key, vis, layout: layoutGraph(vis, (item) => this.sizeOf(item), label) };
    }
    const { vis, layout } = this.laid;
    const notes = [`${record.model} (${record.framework}): ${record.nodes.length} nodes, ${record.edges.length} edges`];
    if (record.connections === "unknown") notes.push("connections unknown (a subclassed or compiled model): layers listed in order, no edges");
    if (record.truncated) notes.push(`first ${record.nodes.length} of ${record.truncated} nodes`);
    notes.push("click a layer to scroll to it, a block to open or close it");
    setText(this.note, notes.join(" · "));
    clear(this.box);
    this.svgEl = this.render(vis, layout, record);
    this.box.appendChild(this.svgEl);
  }

  private render(vis: VisGraph, layout: Layout, record: GraphRecord): SVGSVGElement {
    const colors = palette(this.root);
    const run = this.run!;
    const width = Math.max(1, Math.ceil(layout.width));
    const height = Math.max(1, Math.ceil(layout.height));
    const room = this.box.clientWidth || width;
    // Never wider than the panel: a wide graph is scaled to fit (no sideways scroll).
    const scale = width > room ? room / width : 1;
    const root = svg("svg", {
      xmlns: SVG_NS,
      class: "nv-graph-svg",
      width: Math.floor(width * scale),
      height: Math.ceil(height * scale),
      viewBox: `0 0 ${width} ${height}`,
      "font-family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
      "font-size": 11,
      "data-testid": "graph-svg",
      "data-run": run,
      "data-scale": scale.toFixed(3),
    });
    root.appendChild(svg("rect", { x: 0, y: 0, width, height, fill: colors.bg }));
    const defs = svg("defs", {}, svg("marker", { id: "nv-graph-arrow", viewBox: "0 0 8 8", refX: 7, refY: 4, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, svg("path", { d: "M0,0 L8,4 L0,8 z", fill: colors.muted })));
    root.appendChild(defs);
    // Open blocks: a frame with a clickable name (closes it).
    const depth = (name: string) => {
      let d = 0;
      for (let b = record.blocks.find((x) => x.name === name); b && b.parent !== null; b = record.blocks.find((x) => x.name === b!.parent)) d++;
      return d;
    };
    // Open blocks: a dashed frame, and its name over the edges (its halo in the background
    // colour cuts an edge entering the block under it); a click on either closes the block.
    const names: SVGGElement[] = [];
    for (const c of [...vis.clusters].sort((a, b) => depth(a.block.name) - depth(b.block.name))) {
      const box = layout.clusters.get(c.block.name);
      if (!box) continue;
      const close = (e: Event) => {
        e.stopPropagation();
        this.toggle(c.block.name);
      };
      const title = () => svg("title", {}, document.createTextNode(`${c.block.name} (${c.block.type}): click to close`));
      const g = svg("g", { "data-testid": "graph-block", "data-block": c.block.name, "data-open": "true", cursor: "pointer" });
      g.appendChild(svg("rect", { x: box.x - box.width / 2, y: box.y - box.height / 2, width: box.width, height: box.height, rx: 6, fill: "none", stroke: colors.border, "stroke-dasharray": "4 3" }));
      g.appendChild(title());
      g.addEventListener("click", close);
      root.appendChild(g);
      const at = layout.labels.get(c.block.name) ?? { x: box.x, y: box.y - box.height / 2 + 8, width: box.width - 12, height: LABEL_LINE };
      const label = svg("text", {
        x: at.x - at.width / 2 + 2,
        y: at.y + 4,
        fill: colors.muted,
        "font-size": 10,
        "data-testid": "graph-block-label",
        stroke: colors.bg,
        "stroke-width": 4,
        "paint-order": "stroke",
      });
      label.textContent = blockLabel(c.block);
      const name = svg("g", { "data-testid": "graph-block-name", "data-block": c.block.name, cursor: "pointer" }, label, title());
      name.addEventListener("click", close);
      names.push(name);
    }
    for (const e of layout.edges) {
      if (e.points.length < 2) continue;
      const d = e.points.map((p, k) => `${k ? "L" : "M"}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(" ");
      root.appendChild(svg("path", { d, fill: "none", stroke: colors.muted, "stroke-width": 1.2, "marker-end": "url(#nv-graph-arrow)", "data-testid": "graph-edge", "data-from": e.from, "data-to": e.to }));
    }
    for (const name of names) root.appendChild(name);
    const anchors = clickAnchors(this.tagsOf(run));
    for (const item of vis.items) root.appendChild(this.nodeEl(item, layout, colors, run, linkOf(item, record, anchors)));
    return root;
  }

  private nodeEl(item: VisItem, layout: Layout, colors: Record<string, string>, run: string, link: Link | null): SVGGElement {
    const box = layout.nodes.get(item.id)!;
    const x = box.x - box.width / 2;
    const y = box.y - box.height / 2;
    const health = itemHealth(item, this.health);
    const found = itemFindings(item, this.findings);
    const lines = itemLines(item);
    const isBlock = item.block !== null;
    const fn = item.node?.function ?? false;
    const layer = item.node?.layer ?? "";
    const g = svg("g", {
      "data-testid": "graph-node",
      "data-name": item.id,
      "data-layer": layer,
      "data-kind": isBlock ? "block" : fn ? "function" : "layer",
      "data-health": health ?? "",
      "data-finding": found[0]?.severity ?? "",
    });
    if (link) {
      g.setAttribute("data-layer-link", link.tag);
      g.setAttribute("data-link-kind", link.kind);
    }
    if (item.members.length > 1 && !isBlock) g.setAttribute("data-calls", String(item.members.length));
    const stroke = health === "nan" ? colors.nan : health === "large" ? colors.large : health === "stopped" ? colors.stopped : colors.border;
    g.appendChild(svg("rect", {
      class: "nv-graph-rect",
      x, y, width: box.width, height: box.height,
      rx: fn ? 10 : 3,
      fill: isBlock ? colors.bg : colors.card,
      stroke,
      "stroke-width": health === "nan" || health === "stopped" || health === "large" ? 1.6 : 1,
      "stroke-dasharray": isBlock ? "5 2" : "none",
    }));
    // The status bar on the left, as in the structure view's list: hatched for large, striped for tiny.
    if (health !== null) {
      const fill = { ok: colors.ok, large: colors.large, tiny: colors.tiny, stopped: colors.stopped, nan: colors.nan }[health];
      g.appendChild(svg("rect", { x: x + 1, y: y + 1, width: 5, height: box.height - 2, fill, opacity: health === "tiny" ? 0.7 : 1 }));
    }
    // The status told by glyph too, not by colour alone (the structure view's glyphs).
    const glyph = health === null ? "" : health === "nan" ? "✖ " : `${HEALTH[health].glyph} `;
    lines.forEach((text, k) => {
      const line = k === 0 ? glyph + text : text;
      const t = svg("text", { x: x + PAD + 4, y: y + PAD + LINE * k + 10, fill: k === 0 ? colors.fg : colors.muted, "font-weight": k === 0 ? 600 : 400 });
      t.textContent = this.fit(line, box.width - 2 * PAD - 6, k === 0);
      g.appendChild(t);
    });
    if (found.length) {
      const color = found[0].severity === "error" ? colors.nan : colors.warning;
      const cx = x + box.width - 7;
      const cy = y + 7;
      g.appendChild(svg("circle", { cx, cy, r: 6, fill: color, "data-testid": "graph-finding" }));
      const mark = svg("text", { x: cx, y: cy + 4, fill: "#fff", "text-anchor": "middle", "font-weight": 700, "font-size": 10 });
      mark.textContent = "!";
      g.appendChild(mark);
    }
    const status = health ? `${health === "nan" ? "✖" : HEALTH[health].glyph} ${statusText(health)}` : statusText(null);
    const why = found.map((f) => `${f.severity}: ${f.message}`);
    const action = isBlock ? "Click: open this block"
      : link?.kind === "layer" ? "Click: scroll to this layer"
      : link?.kind === "activations" ? "Click: scroll to its activations"
      : link ? `Click: scroll to ${link.via}, the nearest layer with weights` : "";
    g.appendChild(svg("title", {}, document.createTextNode([...lines, `|dW|/|W|: ${status}`, ...why, action].filter(Boolean).join("\n"))));
    if (isBlock) {
      g.setAttribute("cursor", "pointer");
      g.addEventListener("click", () => this.toggle(item.id));
    } else {
      g.addEventListener("click", () => this.pick(run, item, link));
    }
    return g;
  }

  /** `text` cut with an ellipsis to fit `width` px. */
  private fit(text: string, width: number, bold: boolean): string {
    if (this.textWidth(text, bold) <= width) return text;
    let lo = 0;
    let hi = text.length;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.textWidth(text.slice(0, mid) + "…", bold) <= width) lo = mid;
      else hi = mid - 1;
    }
    return text.slice(0, lo) + "…";
  }

  /** The drawn diagram as a standalone SVG document (colours written as attributes). */
  svgText(): string | null {
    if (!this.svgEl) return null;
    const copy = this.svgEl.cloneNode(true) as SVGSVGElement;
    copy.setAttribute("width", copy.viewBox.baseVal.width.toString());
    copy.setAttribute("height", copy.viewBox.baseVal.height.toString());
    return new XMLSerializer().serializeToString(copy);
  }

  private exportSvg(): void {
    const text = this.svgText();
    if (text && this.run !== null) download(new Blob([text], { type: "image/svg+xml" }), safeFilename([this.run, "graph"], "svg"));
  }

  /** The diagram as a PNG at twice its size (drawn from the SVG through an image). */
  async pngBlob(): Promise<Blob | null> {
    const text = this.svgText();
    if (!text || !this.svgEl) return null;
    const { width, height } = this.svgEl.viewBox.baseVal;
    const img = new Image();
    const url = URL.createObjectURL(new Blob([text], { type: "image/svg+xml" }));
    try {
      await new Promise<void>((resolve, reject) => {
        img.onload = () => resolve();
        img.onerror = () => reject(new Error("the diagram could not be drawn as an image"));
        img.src = url;
      });
      const canvas = document.createElement("canvas");
      canvas.width = Math.ceil(width * 2);
      canvas.height = Math.ceil(height * 2);
      const ctx = canvas.getContext("2d");
      if (!ctx) return null;
      ctx.scale(2, 2);
      ctx.drawImage(img, 0, 0, width, height);
      return await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, "image/png"));
    } finally {
      URL.revokeObjectURL(url);
    }
  }

  private async exportPng(): Promise<void> {
    const blob = await this.pngBlob();
    if (blob && this.run !== null) download(blob, safeFilename([this.run, "graph"], "png"));
  }
}

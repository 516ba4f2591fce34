/**
 * The tab's body below the panels: one section per layer (network order) with its
 * update-trajectory charts, then one row per tensor holding that tensor's heatmap card in
 * every selected run side by side (TensorRow: shared, linkable step). Sections, rows and
 * cards are reused across run changes and reloads; cards and charts load lazily through
 * one IntersectionObserver.
 *
 * Large models (more than LARGE_MODEL_LAYERS layer sections, model/blocks.ts): the sections
 * sit in collapsed blocks (ResNet's conv2_block1, layer1.0, a transformer's layer_0) whose
 * headers sum up their layers' status, and only the sections near the viewport are drawn
 * (in the page's idle time, a few rows at a time, so that a scroll's frames stay short):
 * the others hold a placeholder of their measured (else estimated) height, their cards
 * and charts destroyed; cards and rows keep step, mode, colour range and zoom to come back
 * the same.
 *
 * Example:
 *   const s = new Sections(list, tooltip, () => app.saveView());
 *   s.rebuild(tags.runs, ["a", "b"], pendingCardStates);
 *   s.applyFilter(/kernel/i);
 */
import type { CardState } from "../data/hashstate";
import { RangeStore } from "../data/ranges";
import type { TagInfo } from "../data/types";
import { type Block, type Status, STATUS_TEXT, blockGroups, blockSummary, estimateSectionHeight, isLargeModel, worstStatus } from "../model/blocks";
import type { RangeMode } from "../model/colorrange";
import { hasActivationTensors, runVersion } from "../model/activations";
import { layerLabel, moduleLabel } from "../model/describe";
import { pooledShape } from "../model/grid";
import type { View } from "../model/viewport";
import { networkOrder } from "../model/order";
import { runColor } from "../model/series";
import { clear, el, setText } from "../ui/dom";
import type { Tooltip } from "../ui/tooltip";
import { Card } from "./card";
import { MAX_WIDTH } from "./heatmap";
import { LayerCharts, type LayerTensor } from "./layer";
import { type RowState, TensorRow } from "./tensorrow";

/** True when `info` describes a drawable heatmap (kind "heatmap" with grid and layout). */
export function isHeatmap(info: TagInfo | null | undefined): info is TagInfo {
  return !!info && info.kind === "heatmap" && Array.isArray(info.grid) && !!info.layout && Array.isArray(info.steps);
}

/**
 * Layer groups and their tensors over several runs, in network order (see model/order.ts;
 * the first run that has a tensor decides), each tensor once.
 *
 * Example: groupTags({a: {"d/k": i, "d/b": i}, b: {"e/k": i}}, ["a", "b"])
 *   -> Map {"d" => ["d/k", "d/b"], "e" => ["e/k"]}
 */
export function groupTags(tagsByRun: Record<string, Record<string, TagInfo>>, runs: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const run of runs) {
    const tags = tagsByRun[run] ?? {};
    for (const t of networkOrder(tags)) {
      const g = tags[t].group ?? "";
      if (!out.has(g)) out.set(g, []);
      const list = out.get(g)!;
      if (!list.includes(t)) list.push(t);
    }
  }
  return out;
}

/**
 * Widest a heatmap may be when `n` cards share a row of `windowWidth` CSS pixels
 * (page and card padding, and the gaps, taken off).
 *
 * Example: cardWidth(1000, 2) === 423; cardWidth(2400, 1) === MAX_WIDTH.
 */
export function cardWidth(windowWidth: number, n: number): number {
  const free = windowWidth - 90 - 16 * Math.max(0, n - 1);
  return Math.max(120, Math.min(MAX_WIDTH, Math.floor(free / Math.max(1, n)) - 24));
}


/** Sections within this many px of the viewport are drawn (large models). */
const NEAR_PX = 800;
/** Drawn sections farther than this are released. */
const FAR_PX = 2500;
/**
 * Time one idle period spends drawing a section's rows (large models), in ms: at least
 * one row, at most this much of the idle time the browser reports.
 */
const FILL_BUDGET_MS = 8;
/** A waiting section is drawn at the latest this long after it came near, even while scrolling never leaves idle time. */
const IDLE_TIMEOUT_MS = 150;
/** A filter matching at most this many layers opens their blocks. */
const AUTO_OPEN = 8;

interface Group {
  key: string;
  sec: HTMLElement;
  /** The module label beside the layer's name ("· Linear(20 -> 32)"). */
  label: HTMLElement;
  /** The layer's status chip (large models). */
  chip: HTMLElement;
  /** Holds the charts and cards while drawn; a placeholder of the section's height while released. */
  body: HTMLDivElement;
  charts: LayerCharts | null;
  box: HTMLElement;
  tags: string[];
  rows: Map<string, TensorRow>;
  layerTensors: LayerTensor[];
  live: boolean;
  /** The drawn body's height when last measured. */
  height: number | null;
  /** A section drawn over several frames (large models): the index of its next tensor row, null when complete. */
  resume: number | null;
}

interface BlockEl {
  name: string;
  root: HTMLElement;
  head: HTMLButtonElement;
  summary: HTMLElement;
  body: HTMLDivElement;
  layers: string[];
}

export class Sections {
  private tags: Record<string, Record<string, TagInfo>> = {};
  private runs: string[] = [];
  /** The selected runs' data versions (the activation statistics are refetched when they change). */
  private versions: { run: string; version: number }[] = [];
  private readonly cards = new Map<string, Card>();
  private readonly groups = new Map<string, Group>();
  private readonly observer: IntersectionObserver;
  private readonly ranges = new RangeStore();
  /** Cards per row, by tensor (their heatmaps share the width). */
  private readonly rowSize = new Map<string, number>();
  /** Card states waiting for their cards (the app's, from the URL; released cards add theirs). */
  private pending = new Map<string, CardState>();
  /** Colour range mode and zoom of released cards, by card key. */
  private readonly keptCards = new Map<string, { range: RangeMode; view: View | null }>();
  /** Released rows' link, colours and step, by tensor. */
  private readonly keptRows = new Map<string, RowState>();
  /** Large model: sections in blocks, drawn only near the viewport. */
  private large = false;
  private blocks: BlockEl[] = [];
  /** Blocks the user opened. */
  private readonly opened = new Set<string>();
  /** Blocks opened by the filter. */
  private filterOpened = new Set<string>();
  private re: RegExp | null = /(?:)/;
  private status = new Map<string, Status>();
  private frame = 0;
  /** The idle callback (or timeout) that draws the next rows of the nearest waiting section; 0: none. */
  private idle = 0;
  /** A new row was made (the app applies the URL's shared colours). */
  rowMade: (row: TensorRow) => void = () => undefined;

  constructor(
    private readonly list: HTMLElement,
    private readonly tooltip: Tooltip,
    private readonly changed: () => void,
  ) {
    this.observer = new IntersectionObserver(
      (entries) => {
        for (const e of entries) {
          const t = e.target as HTMLElement;
          if (t.dataset.layerKey !== undefined) this.groups.get(t.dataset.layerKey)?.charts?.setVisible(e.isIntersecting);
          else if (t.dataset.key !== undefined) this.cards.get(t.dataset.key)?.setVisible(e.isIntersecting);
        }
      },
      { rootMargin: "200px 0px" },
    );
    const win = list.ownerDocument.defaultView ?? window;
    win.addEventListener("scroll", () => this.schedule(), { passive: true });
  }

  /** Every card drawn now (for the URL state; released cards' states are in the pending map). */
  allCards(): IterableIterator<Card> {
    return this.cards.values();
  }

  /** Every tensor row drawn now. */
  *allRows(): IterableIterator<TensorRow> {
    for (const g of this.groups.values()) yield* g.rows.values();
  }

  /** Tensors whose rows share one colour scale, drawn or released. */
  sharedTags(): string[] {
    const out = new Set<string>();
    for (const [t, s] of this.keptRows) if (s.shared) out.add(t);
    for (const r of this.allRows()) if (r.sharedColours) out.add(r.tag);
    return [...out];
  }

  /** Forgets released rows' steps (the address changed: their cards' steps come from it). */
  forgetRowSteps(): void {
    for (const s of this.keptRows.values()) s.step = null;
  }

  /** The block the user opened (large models; kept in the address), null when none. */
  get openBlock(): string | null {
    return [...this.opened][0] ?? null;
  }

  /** Opens the block `name` (from the address; before the blocks exist it opens when they are made), closing others; null closes. */
  setOpenBlock(name: string | null): void {
    if (name === this.openBlock) return;
    this.opened.clear();
    if (name) this.opened.add(name);
    for (const b of this.blocks) this.showBlock(b);
    this.schedule();
  }

  /** How many layer sections exist (0: nothing logged in the selected runs). */
  get size(): number {
    return this.groups.size;
  }

  /** True while sections sit in blocks and are drawn only near the viewport. */
  get isLarge(): boolean {
    return this.large;
  }

  resize(): void {
    for (const c of this.cards.values()) c.relayout();
    for (const g of this.groups.values()) g.charts?.resize();
    this.schedule();
  }

  /** The element to scroll to for `tag` in `run`: its card, else its traces chart or layer. */
  target(run: string, tag: string): { el: HTMLElement; card?: Card } | null {
    for (const g of this.groups.values()) if (g.tags.includes(tag)) this.ensureLive(g);
    const card = this.cards.get(JSON.stringify([run, tag]));
    if (card) return { el: card.root, card };
    for (const g of this.groups.values()) if (g.tags.includes(tag)) return { el: g.charts?.tracesChart(tag) ?? g.sec };
    return null;
  }

  /**
   * The section of the layer holding `tag` (`part` "layer"), or its update charts
   * ("charts"), drawn; null when no section has it.
   */
  layerTarget(tag: string, part: "layer" | "charts"): { el: HTMLElement; card?: undefined } | null {
    for (const g of this.groups.values()) {
      // A finding on activations names the layer itself (a ReLU module without weights).
      if (!g.tags.includes(tag) && g.key !== tag) continue;
      this.ensureLive(g);
      return { el: part === "charts" ? g.charts?.root ?? g.sec : g.sec };
    }
    return null;
  }

  /** The first layer section the filter shows (large models: the filter scrolls to it), drawn. */
  firstShown(): HTMLElement | null {
    for (const g of this.groups.values()) {
      if (g.sec.hidden || (this.large && !this.blockOpen(this.blockOf(g.key)))) continue;
      this.ensureLive(g);
      return g.sec;
    }
    return null;
  }

  clearAll(): void {
    for (const g of this.groups.values()) this.release(g, false);
    this.cards.clear();
    this.groups.clear();
    this.blocks = [];
    clear(this.list);
  }

  /** Each layer's worst status (findings, update health, NaN), for the block headers and the sections' chips. */
  setStatus(status: Map<string, Status>): void {
    this.status = status;
    this.paintStatus();
  }

  /**
   * Brings sections, rows and cards in line with the selected runs' tags, reusing what
   * exists; `pending` holds card states from the URL, taken out as their cards are made.
   */
  rebuild(tags: Record<string, Record<string, TagInfo>>, runs: string[], pending: Map<string, CardState>): void {
    this.tags = tags;
    this.runs = runs;
    this.pending = pending;
    this.versions = runs.filter((run) => hasActivationTensors(tags[run])).map((run) => ({ run, version: runVersion(tags[run]) }));
    const wanted = new Set<string>();
    for (const run of runs) {
      const t = tags[run] ?? {};
      for (const name of Object.keys(t)) if (isHeatmap(t[name])) wanted.add(JSON.stringify([run, name]));
    }
    for (const [key, card] of this.cards) {
      if (wanted.has(key)) continue;
      this.observer.unobserve(card.root);
      card.dispose();
      card.root.remove();
      this.cards.delete(key);
    }
    const byGroup = groupTags(tags, runs);
    for (const [g, group] of this.groups) {
      if (byGroup.has(g)) continue;
      this.release(group, false);
      group.sec.remove();
      this.groups.delete(g);
    }
    const large = isLargeModel(byGroup.size);
    if (large !== this.large) {
      this.large = large;
      this.list.classList.toggle("nv-large", large);
      clear(this.list);
    }
    for (const [g, names] of byGroup) {
      const group = this.group(g);
      group.tags = names;
      const label = layerLabel(g, runs.flatMap((run) => names.map((t) => moduleLabel(t, tags[run]?.[t]?.description))));
      setText(group.label, label ? ` · ${label}` : "");
      group.label.hidden = !label;
      group.layerTensors = [];
      for (const t of names) {
        for (const run of runs) {
          const info = tags[run]?.[t];
          if (info?.has_trajectory) group.layerTensors.push({ run, tag: t, steps: info.trajectory_steps ?? 0 });
        }
      }
      if (!large) this.list.appendChild(group.sec); // (re)appending keeps network order
      if (!large || group.live) this.fill(group);
      else if (group.height === null) group.body.style.height = `${this.estimate(group)}px`;
    }
    if (large) this.layoutBlocks([...byGroup.keys()]);
    this.paintStatus();
    this.schedule();
  }

  /**
   * Shows the rows, cards and sections whose tensor matches `re` (null: an invalid
   * filter, nothing shown); returns the counts for the status line. Large models: the
   * blocks holding matches open when they are few.
   */
  applyFilter(re: RegExp | null): { shown: number; total: number; groupsShown: number; tensors: number } {
    this.re = re;
    let shown = 0;
    let total = 0;
    for (const run of this.runs) {
      const t = this.tags[run] ?? {};
      for (const name of Object.keys(t)) {
        if (!isHeatmap(t[name])) continue;
        total++;
        if (re !== null && re.test(name)) shown++;
      }
    }
    for (const card of this.cards.values()) card.root.hidden = !(re !== null && re.test(card.tag));
    let groupsShown = 0;
    const matched: string[] = [];
    for (const g of this.groups.values()) {
      for (const [t, row] of g.rows) row.root.hidden = re === null || !re.test(t);
      g.sec.hidden = re === null || !g.tags.some((t) => re.test(t));
      if (!g.sec.hidden) {
        groupsShown++;
        matched.push(g.key);
      }
    }
    if (this.large) {
      const filtering = re !== null && re.source !== "(?:)";
      this.filterOpened = new Set(filtering && matched.length <= AUTO_OPEN ? matched.map((l) => this.blockOf(l)).filter((b): b is BlockEl => !!b).map((b) => b.name) : []);
      for (const b of this.blocks) {
        b.root.hidden = !b.layers.some((l) => !this.groups.get(l)?.sec.hidden);
        this.showBlock(b);
      }
      this.schedule();
    }
    const tensors = new Set([...this.groups.values()].flatMap((g) => g.tags)).size;
    return { shown, total, groupsShown, tensors };
  }

  private group(g: string): Group {
    let group = this.groups.get(g);
    if (group) return group;
    const box = el("div", { className: "nv-cards" });
    const label = el("span", { className: "nv-group-label", attrs: { "data-testid": "group-label" } });
    label.hidden = true;
    const chip = el("span", { className: "nv-group-status", attrs: { "data-testid": "group-status" } });
    chip.hidden = true;
    const body = el("div", { className: "nv-group-body" });
    const sec = el(
      "section",
      { className: "nv-group", attrs: { "data-testid": "group", "data-group": g } },
      el(
        "div",
        { className: "nv-group-title", attrs: { "data-testid": "group-title" } },
        el("span", { text: g || "(ungrouped)", attrs: { "data-testid": "group-name" } }),
        label,
        chip,
      ),
      body,
    );
    group = { key: g, sec, label, chip, body, charts: null, box, tags: [], rows: new Map(), layerTensors: [], live: false, height: null, resume: null };
    this.groups.set(g, group);
    return group;
  }

  /**
   * Draws a section: its charts, rows and cards (made or updated). With `budgetMs` (the
   * scroll's virtualisation), it goes on from the row where the last call stopped and
   * stops after the row that spends the budget, leaving `group.resume` for the next frame.
   */
  private fill(group: Group, budgetMs = Infinity): void {
    const t0 = performance.now();
    const { tags, runs } = this;
    const g = group.key;
    const multi = runs.length > 1;
    if (!group.charts) {
      group.charts = new LayerCharts(g, this.large);
      group.charts.root.dataset.layerKey = g;
      this.observer.observe(group.charts.root);
    }
    if (!group.live) {
      group.body.style.height = "";
      clear(group.body);
      group.body.append(group.charts.root, group.box);
      group.live = true;
    }
    if (budgetMs === Infinity || group.resume === null) group.charts.update(group.layerTensors, runs, group.tags, this.versions);
    const from = budgetMs === Infinity ? 0 : group.resume ?? 0;
    group.resume = null;
    for (let i = from; i < group.tags.length; i++) {
      if (i > from && performance.now() - t0 > budgetMs) {
        group.resume = i;
        return;
      }
      const t = group.tags[i];
      // The row's size first: new cards size their heatmaps by it.
      const size = runs.filter((run) => isHeatmap(tags[run]?.[t])).length;
      const resized = this.rowSize.has(t) && this.rowSize.get(t) !== size;
      this.rowSize.set(t, size);
      const rowCards: Card[] = [];
      for (const run of runs) {
        const info = tags[run]?.[t];
        if (!isHeatmap(info)) continue;
        const card = this.card(run, t, g, info);
        card.showRun(multi, runColor(runs.indexOf(run)));
        card.root.hidden = !(this.re !== null && this.re.test(t));
        rowCards.push(card);
      }
      // Heatmaps drawn for a row of another size would overflow their cards.
      if (resized) for (const c of rowCards) c.relayout();
      let row = group.rows.get(t);
      if (!rowCards.length) {
        row?.stop();
        row?.root.remove();
        group.rows.delete(t);
        continue;
      }
      let made = false;
      if (!row) {
        row = new TensorRow(t, this.changed);
        const kept = this.keptRows.get(t);
        if (kept) {
          row.restoreSnapshot(kept);
          this.keptRows.delete(t);
        }
        group.rows.set(t, row);
        made = true;
      }
      row.root.hidden = this.re === null || !this.re.test(t);
      group.box.appendChild(row.root);
      row.setCards(rowCards);
      if (made) this.rowMade(row);
    }
    for (const [t, row] of group.rows) {
      if (group.tags.includes(t)) continue;
      row.stop();
      row.root.remove();
      group.rows.delete(t);
    }
  }

  /**
   * Destroys a section's charts and cards, keeping their states; `placeholder`: keep its
   * height (`measured`: its height, read by the caller before any DOM change).
   */
  private release(group: Group, placeholder = true, measured?: number): void {
    if (placeholder && group.live && group.resume === null) {
      const h = measured ?? group.body.getBoundingClientRect().height;
      if (h > 0) group.height = Math.round(h);
    }
    for (const [t, row] of group.rows) {
      this.keptRows.set(t, row.snapshot());
      row.stop();
    }
    group.rows.clear();
    for (const t of group.tags) {
      for (const run of this.runs) {
        const key = JSON.stringify([run, t]);
        const card = this.cards.get(key);
        if (!card) continue;
        const v = card.viewState();
        if (v) this.pending.set(key, { run, tag: t, ...v });
        else this.pending.delete(key);
        this.keptCards.set(key, { range: card.rangeChoice, view: card.zoomView });
        this.observer.unobserve(card.root);
        card.dispose();
        this.cards.delete(key);
      }
    }
    if (group.charts) {
      this.observer.unobserve(group.charts.root);
      group.charts.dispose();
      group.charts = null;
    }
    clear(group.box);
    clear(group.body);
    group.live = false;
    group.resume = null;
    if (placeholder) group.body.style.height = `${group.height ?? this.estimate(group)}px`;
  }

  private ensureLive(group: Group): void {
    if (!this.large) return;
    const b = this.blockOf(group.key);
    if (b && !this.blockOpen(b)) {
      this.opened.clear();
      this.opened.add(b.name);
      for (const x of this.blocks) this.showBlock(x);
    }
    if (!group.live || group.resume !== null) this.fill(group);
  }

  /** The height a released section reserves before it was ever drawn. */
  private estimate(group: Group): number {
    const width = Math.max(300, Math.min(MAX_WIDTH, (window.innerWidth || 1200) - 90));
    const grids: [number, number][] = [];
    for (const t of group.tags) {
      const info = this.runs.map((r) => this.tags[r]?.[t]).find((i) => isHeatmap(i));
      if (isHeatmap(info)) grids.push(pooledShape(info.grid, info.pool ?? [1, 1]) as [number, number]);
    }
    return estimateSectionHeight({ charts: group.layerTensors.length > 0, grids, width, compact: this.large });
  }

  /** Puts the sections into their blocks (large models), in network order. */
  private layoutBlocks(layers: string[]): void {
    const want: Block[] = blockGroups(layers);
    const old = new Map(this.blocks.map((b) => [b.name, b]));
    this.blocks = want.map((w) => {
      const b = old.get(w.name) ?? this.block(w.name);
      b.layers = w.layers;
      for (const l of w.layers) b.body.appendChild(this.groups.get(l)!.sec);
      this.list.appendChild(b.root);
      this.showBlock(b);
      return b;
    });
    for (const [name, b] of old) if (!this.blocks.some((x) => x.name === name)) b.root.remove();
  }

  private block(name: string): BlockEl {
    const summary = el("span", { className: "nv-block-summary", attrs: { "data-testid": "block-summary" } });
    const head = el(
      "button",
      { className: "nv-block-head", attrs: { type: "button", "data-testid": "block-head", "aria-expanded": "false" } },
      el("span", { className: "nv-block-caret", text: "\u25B8" }),
      el("span", { className: "nv-block-name", text: name, attrs: { "data-testid": "block-name" } }),
      summary,
    );
    const body = el("div", { className: "nv-block-body" });
    const root = el("section", { className: "nv-block", attrs: { "data-testid": "block", "data-block": name } }, head, body);
    const b: BlockEl = { name, root, head, summary, body, layers: [] };
    head.addEventListener("click", () => {
      const open = this.blockOpen(b);
      if (open) {
        this.opened.delete(name);
        this.filterOpened.delete(name);
      } else {
        // One block open at a time: a block of a ResNet stage is already a few screens tall.
        for (const o of [...this.opened, ...this.filterOpened]) {
          this.opened.delete(o);
          this.filterOpened.delete(o);
          const ob = this.blocks.find((x) => x.name === o);
          if (ob) this.showBlock(ob);
        }
        this.opened.add(name);
      }
      this.showBlock(b);
      this.schedule();
      this.changed();
    });
    return b;
  }

  private blockOf(layer: string): BlockEl | undefined {
    return this.blocks.find((b) => b.layers.includes(layer));
  }

  private blockOpen(b: BlockEl | undefined): boolean {
    return !!b && (this.opened.has(b.name) || this.filterOpened.has(b.name));
  }

  private showBlock(b: BlockEl): void {
    const open = this.blockOpen(b);
    b.body.hidden = !open;
    b.root.toggleAttribute("data-open", open);
    b.head.setAttribute("aria-expanded", String(open));
    b.head.title = open ? "Collapse this block" : "Expand this block: draw its layers' charts and heatmaps";
  }

  private paintStatus(): void {
    for (const g of this.groups.values()) {
      const s = this.large ? this.status.get(g.key) ?? null : null;
      g.chip.hidden = !s || s === "ok";
      g.chip.className = `nv-group-status nv-status-${s ?? "none"}`;
      g.chip.setAttribute("data-status", s ?? "");
      setText(g.chip, s ? STATUS_TEXT[s] : "");
    }
    for (const b of this.blocks) {
      const statuses = b.layers.map((l) => this.status.get(l) ?? null);
      const tensors = b.layers.reduce((n, l) => n + (this.groups.get(l)?.tags.length ?? 0), 0);
      setText(b.summary, blockSummary(b.layers.length, tensors, statuses));
      b.root.setAttribute("data-status", worstStatus(statuses) ?? "none");
    }
  }

  /** Draws the sections near the viewport and releases far ones, on the next frame. */
  private schedule(): void {
    if (!this.large || this.frame) return;
    const win = this.list.ownerDocument.defaultView ?? window;
    this.frame = win.requestAnimationFrame(() => {
      this.frame = 0;
      this.virtualise();
    });
  }

  /**
   * Draws the next rows of the nearest waiting section when the page is idle: making
   * cards and charts (canvases, composited layers, their first layout and paint) during
   * a scroll's frames made its long frames. Scrolling leaves idle time between frames; a
   * fast scroll that leaves none still draws every IDLE_TIMEOUT_MS.
   */
  private scheduleFill(): void {
    if (this.idle) return;
    const win = this.list.ownerDocument.defaultView ?? window;
    if (typeof win.requestIdleCallback === "function") {
      this.idle = win.requestIdleCallback(
        (d) => {
          this.idle = 0;
          this.virtualise(Math.min(FILL_BUDGET_MS, d.timeRemaining()));
        },
        { timeout: IDLE_TIMEOUT_MS },
      );
    } else {
      this.idle = win.setTimeout(() => {
        this.idle = 0;
        this.virtualise(FILL_BUDGET_MS);
      }, 50);
    }
  }

  /**
   * One step: releases far sections; with `fillBudget` (ms, from an idle callback) draws
   * the nearest waiting section's next rows, else asks for an idle callback to do so.
   */
  private virtualise(fillBudget?: number): void {
    if (!this.large) return;
    const win = this.list.ownerDocument.defaultView ?? window;
    const h = win.innerHeight || 1000;
    let next: Group | null = null;
    let nextDist = Infinity;
    // Every position and height is read before anything changes: a release between two
    // reads forced a layout of the page per released section (the scroll's long frames).
    const far: [Group, number | undefined][] = [];
    for (const g of this.groups.values()) {
      const shown = !g.sec.hidden && this.blockOpen(this.blockOf(g.key));
      if (!shown) {
        if (g.live) far.push([g, 0]);
        continue;
      }
      const r = g.sec.getBoundingClientRect();
      const dist = r.bottom < 0 ? -r.bottom : r.top > h ? r.top - h : 0;
      if (g.live && dist > FAR_PX) far.push([g, g.body.getBoundingClientRect().height]);
      else if ((!g.live || g.resume !== null) && dist <= NEAR_PX && dist < nextDist) {
        next = g;
        nextDist = dist;
      }
    }
    for (const [g, height] of far) this.release(g, true, height);
    if (!next) return;
    if (fillBudget !== undefined) this.fill(next, fillBudget);
    this.scheduleFill();
  }

  private card(run: string, tag: string, g: string, info: TagInfo): Card {
    const key = JSON.stringify([run, tag]);
    let card = this.cards.get(key);
    if (card) {
      card.update(info);
      return card;
    }
    card = new Card(run, tag, info, {
      tooltip: this.tooltip,
      maxWidth: () => cardWidth(window.innerWidth || MAX_WIDTH, this.rowSize.get(tag) ?? 1),
      ranges: this.ranges,
      layerTags: () => this.layerTags(run, g),
      runTags: () => this.runTags(tag),
      changed: this.changed,
    });
    const saved = this.pending.get(key);
    if (saved) {
      card.restore(saved.mode, saved.step, saved.cmap);
      this.pending.delete(key);
    }
    const kept = this.keptCards.get(key);
    if (kept) {
      card.setRangeMode(kept.range);
      card.keepView(kept.view);
      this.keptCards.delete(key);
    }
    card.root.dataset.key = key;
    this.cards.set(key, card);
    this.observer.observe(card.root);
    return card;
  }

  /** The heatmap tensors of layer `group` in `run`, with their step counts. */
  private layerTags(run: string, group: string): { tag: string; steps: number }[] {
    const tags = this.tags[run] ?? {};
    return Object.keys(tags)
      .filter((t) => isHeatmap(tags[t]) && (tags[t].group ?? "") === group)
      .map((t) => ({ tag: t, steps: tags[t].steps.length }));
  }

  /** The selected runs with a heatmap of `tag`, with its step counts. */
  private runTags(tag: string): { run: string; steps: number }[] {
    return this.runs.filter((r) => isHeatmap(this.tags[r]?.[tag])).map((r) => ({ run: r, steps: this.tags[r][tag].steps.length }));
  }
}

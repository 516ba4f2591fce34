/**
 * The tab's body below the panels: one section per layer (network order) with its
 * update-trajectory charts, then one row per tensor holding that tensor's heatmap card in
 * every selected run side by side (TensorRow: shared, linkable step). Sections, rows and
 * cards are reused across run changes and reloads; cards and charts load lazily through
 * one IntersectionObserver.
 *
 * Example:
 *   const s = new Sections(list, tooltip, () => app.saveView());
 *   s.rebuild(tags.runs, ["a", "b"], pendingCardStates);
 *   s.applyFilter(/kernel/i);
 */
import type { CardState } from "../data/hashstate";
import { RangeStore } from "../data/ranges";
import type { TagInfo } from "../data/types";
import { layerLabel, moduleLabel } from "../model/describe";
import { networkOrder } from "../model/order";
import { runColor } from "../model/series";
import { clear, el, setText } from "../ui/dom";
import type { Tooltip } from "../ui/tooltip";
import { Card } from "./card";
import { MAX_WIDTH } from "./heatmap";
import { LayerCharts, type LayerTensor } from "./layer";
import { TensorRow } from "./tensorrow";

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

interface Group {
  sec: HTMLElement;
  /** The module label beside the layer's name ("· Linear(20 -> 32)"). */
  label: HTMLElement;
  charts: LayerCharts;
  box: HTMLElement;
  tags: string[];
  rows: Map<string, TensorRow>;
}

export class Sections {
  private tags: Record<string, Record<string, TagInfo>> = {};
  private runs: string[] = [];
  private readonly cards = new Map<string, Card>();
  private readonly groups = new Map<string, Group>();
  private readonly observer: IntersectionObserver;
  private readonly ranges = new RangeStore();
  /** Cards per row, by tensor (their heatmaps share the width). */
  private readonly rowSize = new Map<string, number>();

  constructor(
    private readonly list: HTMLElement,
    private readonly tooltip: Tooltip,
    private readonly changed: () => void,
  ) {
    this.observer = new IntersectionObserver(
      (entries) => {
        for (const e of entries) {
          const t = e.target as HTMLElement;
          if (t.dataset.layerKey !== undefined) this.groups.get(t.dataset.layerKey)?.charts.setVisible(e.isIntersecting);
          else if (t.dataset.key !== undefined) this.cards.get(t.dataset.key)?.setVisible(e.isIntersecting);
        }
      },
      { rootMargin: "200px 0px" },
    );
  }

  /** Every card (for the URL state). */
  allCards(): IterableIterator<Card> {
    return this.cards.values();
  }

  /** Every tensor row (for the URL state). */
  *allRows(): IterableIterator<TensorRow> {
    for (const g of this.groups.values()) yield* g.rows.values();
  }

  /** How many layer sections exist (0: nothing logged in the selected runs). */
  get size(): number {
    return this.groups.size;
  }

  resize(): void {
    for (const c of this.cards.values()) c.relayout();
    for (const g of this.groups.values()) g.charts.resize();
  }

  /** The element to scroll to for `tag` in `run`: its card, else its traces chart or layer. */
  target(run: string, tag: string): { el: HTMLElement; card?: Card } | null {
    const card = this.cards.get(JSON.stringify([run, tag]));
    if (card) return { el: card.root, card };
    for (const g of this.groups.values()) if (g.tags.includes(tag)) return { el: g.charts.tracesChart(tag) ?? g.sec };
    return null;
  }

  /** The update charts of the layer holding `tag`, null when no section has it. */
  chartsTarget(tag: string): { el: HTMLElement; card?: undefined } | null {
    for (const g of this.groups.values()) if (g.tags.includes(tag)) return { el: g.charts.root };
    return null;
  }

  clearAll(): void {
    for (const c of this.cards.values()) {
      this.observer.unobserve(c.root);
      c.dispose();
    }
    for (const g of this.groups.values()) {
      this.observer.unobserve(g.charts.root);
      g.charts.dispose();
      for (const r of g.rows.values()) r.stop();
    }
    this.cards.clear();
    this.groups.clear();
    clear(this.list);
  }

  /**
   * Brings sections, rows and cards in line with the selected runs' tags, reusing what
   * exists; `pending` holds card states from the URL, taken out as their cards are made.
   */
  rebuild(tags: Record<string, Record<string, TagInfo>>, runs: string[], pending: Map<string, CardState>): void {
    this.tags = tags;
    this.runs = runs;
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
      this.observer.unobserve(group.charts.root);
      group.charts.dispose();
      for (const r of group.rows.values()) r.stop();
      group.sec.remove();
      this.groups.delete(g);
    }
    const multi = runs.length > 1;
    for (const [g, names] of byGroup) {
      const group = this.group(g);
      group.tags = names;
      const label = layerLabel(g, runs.flatMap((run) => names.map((t) => moduleLabel(t, tags[run]?.[t]?.description))));
      setText(group.label, label ? ` · ${label}` : "");
      group.label.hidden = !label;
      this.list.appendChild(group.sec); // (re)appending keeps network order
      const layerTensors: LayerTensor[] = [];
      for (const t of names) {
        // The row's size first: new cards size their heatmaps by it.
        const size = runs.filter((run) => isHeatmap(tags[run]?.[t])).length;
        const resized = this.rowSize.has(t) && this.rowSize.get(t) !== size;
        this.rowSize.set(t, size);
        const rowCards: Card[] = [];
        for (const run of runs) {
          const info = tags[run]?.[t];
          if (!info) continue;
          if (info.has_trajectory) layerTensors.push({ run, tag: t, steps: info.trajectory_steps ?? 0 });
          if (!isHeatmap(info)) continue;
          const card = this.card(run, t, g, info, pending);
          card.showRun(multi, runColor(runs.indexOf(run)));
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
        if (!row) {
          row = new TensorRow(t, this.changed);
          group.rows.set(t, row);
        }
        group.box.appendChild(row.root);
        row.setCards(rowCards);
      }
      for (const [t, row] of group.rows) {
        if (names.includes(t)) continue;
        row.stop();
        row.root.remove();
        group.rows.delete(t);
      }
      group.charts.update(layerTensors, runs, names);
    }
  }

  /**
   * Shows the rows, cards and sections whose tensor matches `re` (null: an invalid
   * filter, nothing shown); returns the counts for the status line.
   */
  applyFilter(re: RegExp | null): { shown: number; total: number; groupsShown: number; tensors: number } {
    let shown = 0;
    for (const card of this.cards.values()) {
      const show = re !== null && re.test(card.tag);
      card.root.hidden = !show;
      if (show) shown++;
    }
    let groupsShown = 0;
    for (const g of this.groups.values()) {
      for (const [t, row] of g.rows) row.root.hidden = re === null || !re.test(t);
      g.sec.hidden = re === null || !g.tags.some((t) => re.test(t));
      if (!g.sec.hidden) groupsShown++;
    }
    const tensors = new Set([...this.groups.values()].flatMap((g) => g.tags)).size;
    return { shown, total: this.cards.size, groupsShown, tensors };
  }

  private group(g: string): Group {
    let group = this.groups.get(g);
    if (group) return group;
    const charts = new LayerCharts(g);
    charts.root.dataset.layerKey = g;
    const box = el("div", { className: "nv-cards" });
    const label = el("span", { className: "nv-group-label", attrs: { "data-testid": "group-label" } });
    label.hidden = true;
    const sec = el(
      "section",
      { className: "nv-group", attrs: { "data-testid": "group", "data-group": g } },
      el(
        "div",
        { className: "nv-group-title", attrs: { "data-testid": "group-title" } },
        el("span", { text: g || "(ungrouped)", attrs: { "data-testid": "group-name" } }),
        label,
      ),
      charts.root,
      box,
    );
    group = { sec, label, charts, box, tags: [], rows: new Map() };
    this.groups.set(g, group);
    this.observer.observe(charts.root);
    return group;
  }

  private card(run: string, tag: string, g: string, info: TagInfo, pending: Map<string, CardState>): Card {
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
    const saved = pending.get(key);
    if (saved) {
      card.restore(saved.mode, saved.step);
      pending.delete(key);
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

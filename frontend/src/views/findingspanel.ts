/**
 * The Findings panel (top of the tab): what the server's rules found wrong with each
 * selected run's training (`GET findings?run=`), runs with errors first, then warnings, then
 * infos, then none, and each run's findings most severe first; each finding names
 * its layer, first step and numbers, and links to the layer's card. A run without
 * findings says so, so silence is never mistaken for "not loaded". Text only in the DOM.
 * What it says is worked out in model/findings.ts.
 *
 * Example:
 *   const fp = new FindingsPanel((run, tag) => app.reveal(run, tag));
 *   body.appendChild(fp.root); await fp.update(["healthy", "lr_too_high"]);
 */
import { fetchFindingsJson } from "../data/api";
import { latestOnly } from "../data/latest";
import type { Finding } from "../data/types";
import {
  type FindingsResult,
  SEVERITY_GLYPH,
  SEVERITY_ORDER,
  capFindings,
  consequencesText,
  flattenFindings,
  noteText,
  parseFindings,
  runSummary,
  scalarsHash,
  scalarsRunOf,
  severityOrder,
  totals,
  whenText,
  worstSeverity,
} from "../model/findings";
import { clear, el, setText } from "../ui/dom";

/** The Scalars tab's URL in TensorBoard's page (the parent of the plugin's iframe). */
function scalarsHref(hash: string): string {
  let base = "";
  try {
    base = window.parent.location.href.split("#")[0];
  } catch {
    base = "";
  }
  return `${base}#${hash}`;
}

export class FindingsPanel {
  readonly root: HTMLDetailsElement;
  private readonly body: HTMLDivElement;
  private readonly summary: HTMLSpanElement;
  private readonly latest = latestOnly();
  /** Findings fetched elsewhere (the choice of the first run), used once by the next update. */
  private readonly primed = new Map<string, FindingsResult>();
  /** Runs whose long findings list the user asked to see in full ("Show all"). */
  private readonly expanded = new Set<string>();
  /** The findings shown, with the tensors and layer they are about (the filter narrows them). */
  private items: { el: HTMLElement; run: string; about: string[] }[] = [];
  private filter: RegExp | null | undefined = undefined;
  private readonly filterNote: HTMLDivElement;

  /**
   * `onPick(run, tag)`: a finding's "Show" button; `onLoaded(run, list)`: a run's findings
   * arrived (null: they could not be loaded), for the run list's severity markers.
   */
  constructor(
    private readonly onPick: (run: string, tag: string) => void,
    private readonly onLoaded: (run: string, list: Finding[] | null) => void = () => undefined,
  ) {
    this.body = el("div", { className: "nv-findings" });
    this.filterNote = el("div", { className: "nv-help", attrs: { "data-testid": "findings-filter-note" } });
    this.filterNote.hidden = true;
    this.summary = el("span", { className: "nv-help", attrs: { "data-testid": "findings-summary" } });
    this.root = el(
      "details",
      { className: "nv-panel", attrs: { "data-testid": "findings-panel" } },
      el("summary", {}, document.createTextNode("Findings "), this.summary),
      this.filterNote,
      this.body,
    );
    this.root.open = true;
  }

  /** Hands over findings already fetched; the next update shows them instead of asking again. */
  prime(findings: ReadonlyMap<string, FindingsResult>): void {
    for (const [run, list] of findings) this.primed.set(run, list);
  }

  /** Fetches and shows the findings of `runs` (in their order). */
  async update(runs: readonly string[]): Promise<void> {
    this.root.setAttribute("data-loading", "true");
    if (!this.items.length) setText(this.summary, `loading the findings of ${runs.length} run${runs.length === 1 ? "" : "s"}…`);
    const primed = new Map(this.primed);
    this.primed.clear();
    const results = await this.latest.run(() =>
      Promise.allSettled(runs.map(async (r) => primed.get(r) ?? parseFindings(await fetchFindingsJson(r)))),
    );
    if (results === undefined) return;
    this.root.removeAttribute("data-loading");
    clear(this.body);
    this.items = [];
    const count = { error: 0, warning: 0, info: 0 };
    const lists = results.map((res) => (res.status === "fulfilled" ? res.value.findings : undefined));
    // Most severe runs first: a run with errors is not left below the ones with notes.
    for (const k of severityOrder(lists)) {
      const run = runs[k];
      const res = results[k];
      const box = el("div", { className: "nv-findings-run", attrs: { "data-testid": "findings-run", "data-run": run } });
      if (res.status === "rejected") {
        const msg = res.reason instanceof Error ? res.reason.message : String(res.reason);
        box.appendChild(el("div", { className: "nv-findings-head", text: `${run}: no findings (${msg})` }));
        this.onLoaded(run, null);
      } else {
        const { findings: list, notes } = res.value;
        // Consequences count too: a cause's list folded under it is still what the run has.
        const all = flattenFindings(list);
        for (const f of all) count[f.severity === "error" || f.severity === "warning" ? f.severity : "info"] += 1;
        const worst = worstSeverity(all);
        box.setAttribute("data-severity", worst ?? "none");
        const head = el("div", { className: "nv-findings-head" });
        if (worst) head.appendChild(el("span", { className: `nv-sev nv-sev-${worst}`, text: SEVERITY_GLYPH[worst] + " " }));
        head.appendChild(document.createTextNode(`${run}: ${runSummary(all, notes)}`));
        box.appendChild(head);
        // A long list shows its errors and the first others; "Show all" the rest.
        const { hidden } = this.expanded.has(run) ? { hidden: [] as number[] } : capFindings(list);
        const capped = new Set(hidden);
        const rows = list.map((f, k) => {
          const row = this.item(run, f);
          if (capped.has(k)) row.setAttribute("data-capped", "");
          box.append(row, ...this.consequences(run, f));
          return row;
        });
        if (hidden.length) {
          const more = el("button", {
            className: "nv-button nv-small nv-findings-more",
            text: `Show all ${list.length} findings (${hidden.length} more)`,
            attrs: { type: "button", "data-testid": "findings-more", "data-run": run },
          });
          more.addEventListener("click", () => {
            this.expanded.add(run);
            for (const r of rows) r.removeAttribute("data-capped");
            more.remove();
            this.applyFilter();
          });
          box.appendChild(more);
        }
        for (const n of notes) {
          box.appendChild(el("div", { className: "nv-finding-note", text: noteText(n), attrs: { "data-testid": "finding-note", "data-run": run, "data-rule": n.rule } }));
        }
        this.onLoaded(run, list);
      }
      this.body.appendChild(box);
    }
    setText(this.summary, totals(count.error, count.warning, count.info));
    this.applyFilter();
  }

  /**
   * Shows only findings about a tensor matching `re` (large models; undefined: all, null:
   * an invalid filter). Findings about no layer (the loss) always show.
   */
  setFilter(re: RegExp | null | undefined): void {
    this.filter = re;
    this.applyFilter();
  }

  private applyFilter(): void {
    const re = this.filter;
    let hidden = 0;
    for (const it of this.items) {
      const show = re === undefined || !it.about.length || (re !== null && it.about.some((t) => re.test(t)));
      // Capped findings ("Show all") stay hidden; the filter's count is about the others.
      it.el.hidden = !show || it.el.hasAttribute("data-capped");
      if (!show) hidden++;
    }
    this.filterNote.hidden = !hidden;
    setText(this.filterNote, hidden ? `${this.items.length - hidden} of ${this.items.length} findings match the filter` : "");
  }

  /** A finding's row; a consequence's row (`nested`) is marked `finding-consequence`. */
  private item(run: string, f: Finding, nested = false): HTMLElement {
    // The card to show: a tensor of the finding's layer (a finding may list others as evidence).
    const tensors = Array.isArray(f.tensors) ? f.tensors : [];
    const tensor = tensors.find((t) => f.layer && t.startsWith(f.layer + "/")) ?? tensors[0] ?? null;
    const where = [f.layer ? `layer ${f.layer}` : "", whenText(f)].filter(Boolean).join(", ");
    const row = el(
      "div",
      {
        className: `nv-finding nv-sev-${SEVERITY_ORDER.includes(f.severity) ? f.severity : "info"}`,
        attrs: { "data-testid": nested ? "finding-consequence" : "finding", "data-run": run, "data-kind": f.kind, "data-severity": f.severity, "data-layer": f.layer ?? "" },
      },
      el("span", { className: "nv-sev", text: `${SEVERITY_GLYPH[f.severity] ?? SEVERITY_GLYPH.info} ${f.severity}` }),
      el("span", { className: "nv-finding-kind", text: f.kind.replace(/_/g, " ") }),
      el("span", { className: "nv-finding-where", text: where }),
      el("div", { className: "nv-finding-msg", text: f.message }),
    );
    this.items.push({ el: row, run, about: f.layer ? [...tensors, `${f.layer}/`] : tensors });
    if (tensor) {
      const link = el("button", {
        className: "nv-button nv-small",
        text: `Show ${f.layer ? (/^[0-9]/.test(f.layer) ? `layer ${f.layer}` : f.layer) : tensor}`,
        title: `Scroll to ${tensor}`,
        attrs: { type: "button", "data-testid": "finding-link" },
      });
      link.addEventListener("click", () => this.onPick(run, tensor));
      row.insertBefore(link, row.lastChild);
    }
    const scalarsRun = scalarsRunOf(f);
    if (scalarsRun !== null) {
      const hash = scalarsHash(f);
      // TensorBoard's tabs live in the parent page: the link opens its Scalars tab there.
      const a = el("a", {
        className: "nv-button nv-small",
        text: "Loss curves in Scalars",
        title: `TensorBoard's Scalars tab (run ${scalarsRun})`,
        attrs: { href: scalarsHref(hash), target: "_top", "data-testid": "finding-scalars", "data-run": scalarsRun },
      });
      a.addEventListener("click", (ev) => {
        try {
          if (window.parent !== window) {
            window.parent.location.hash = hash;
            ev.preventDefault();
          }
        } catch {
          // A cross-origin parent: the anchor's own navigation (target _top) applies.
        }
      });
      row.insertBefore(a, row.lastChild);
    }
    return row;
  }

  /**
   * What a cause explains, right after its row (hidden with it, by CSS): a closed list
   * to open, each consequence a row of its own with its link. None: [].
   */
  private consequences(run: string, f: Finding): HTMLElement[] {
    const list = f.consequences ?? [];
    if (!list.length) return [];
    const box = el(
      "details",
      { className: "nv-finding-consequences", attrs: { "data-testid": "finding-consequences", "data-kind": f.kind } },
      el("summary", { text: consequencesText(list) }),
    );
    for (const c of list) box.append(this.item(run, c, true), ...this.consequences(run, c));
    return [box];
  }
}

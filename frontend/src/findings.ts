/**
 * The Findings panel (top of the tab): what the server's rules found wrong with each
 * selected run's training (`GET findings?run=`), most severe first; each finding names
 * its layer, first step and numbers, and links to the layer's card. A run without
 * findings says so, so silence is never mistaken for "not loaded". Text only in the DOM.
 *
 * Example:
 *   const fp = new FindingsPanel((run, tag) => app.reveal(run, tag));
 *   body.appendChild(fp.root); await fp.update(["healthy", "lr_too_high"]);
 */
import { fetchFindings } from "./api";
import { clear, el, setText } from "./dom";
import type { Finding } from "./types";

const SEVERITY_ORDER = ["error", "warning", "info"];

/**
 * How much a run's findings have to say: 0 with an error or a warning, 1 with only
 * infos, 2 with none (or when they could not be loaded: undefined).
 *
 * Example: findingsRank([{severity: "info"}, {severity: "warning"}]) === 0; findingsRank([]) === 2.
 */
export function findingsRank(list: readonly Pick<Finding, "severity">[] | undefined): number {
  if (!list || !list.length) return 2;
  return list.some((f) => f.severity === "error" || f.severity === "warning") ? 0 : 1;
}

/**
 * The run the tab opens on when the address names none: the first of `runs` whose
 * findings hold a warning (or an error), else the first with info findings, else the
 * first run. `findings[k]` are the findings of `runs[k]` (undefined: not loaded).
 *
 * Example: startRun(["a", "b", "c"], [[], [{severity: "info"}], [{severity: "warning"}]]) === "c";
 *   startRun(["a", "b"], [[], [{severity: "info"}]]) === "b"; startRun(["a", "b"], [[], []]) === "a".
 */
export function startRun(runs: readonly string[], findings: readonly (readonly Pick<Finding, "severity">[] | undefined)[]): string | null {
  let best: string | null = runs[0] ?? null;
  let rank = 2;
  runs.forEach((run, k) => {
    const r = findingsRank(findings[k]);
    if (r < rank) [best, rank] = [run, r];
  });
  return best;
}

/** Runs whose findings `pickStartRun` looks at, at most, and how many it asks for at once. */
export const START_SCAN = 24;
const START_BATCH = 4;

/**
 * Fetches the findings of `runs` in order, a few at a time, until a run with a warning
 * turns up (or START_SCAN runs were asked), and returns `startRun` of them with the
 * findings fetched (so the Findings panel need not ask again).
 */
export async function pickStartRun(
  runs: readonly string[],
  fetch: (run: string) => Promise<Finding[]> = (run) => fetchFindings(run),
): Promise<{ run: string | null; fetched: Map<string, Finding[]> }> {
  const fetched = new Map<string, Finding[]>();
  const scan = runs.slice(0, START_SCAN);
  for (let k = 0; k < scan.length; k += START_BATCH) {
    const batch = scan.slice(k, k + START_BATCH);
    const results = await Promise.allSettled(batch.map((r) => fetch(r)));
    results.forEach((res, j) => {
      if (res.status === "fulfilled") fetched.set(batch[j], res.value);
    });
    if (batch.some((r) => findingsRank(fetched.get(r)) === 0)) break;
  }
  return { run: startRun(scan, scan.map((r) => fetched.get(r))) ?? runs[0] ?? null, fetched };
}

/**
 * The panel's headline: warnings and errors are problems, infos are notes.
 *
 * Example: totals(2, 1) === "2 problems and 1 note in the selected runs";
 *   totals(0, 1) === "no problems in the selected runs, 1 note".
 */
export function totals(problems: number, notes: number): string {
  const n = (k: number, word: string) => `${k} ${word}${k === 1 ? "" : "s"}`;
  if (!problems) return "no problems in the selected runs" + (notes ? `, ${n(notes, "note")}` : "");
  return n(problems, "problem") + (notes ? ` and ${n(notes, "note")}` : "") + " in the selected runs";
}

/**
 * One line per run for the panel's summary.
 *
 * Example: summarize([{severity: "error"}, {severity: "warning"}, {severity: "warning"}])
 *   === "1 error, 2 warnings"; summarize([]) === "no problems found".
 */
export function summarize(findings: readonly Pick<Finding, "severity">[]): string {
  if (!findings.length) return "no problems found";
  const parts: string[] = [];
  for (const sev of SEVERITY_ORDER) {
    const n = findings.filter((f) => f.severity === sev).length;
    if (n) parts.push(`${n} ${sev}${n > 1 ? "s" : ""}`);
  }
  const other = findings.filter((f) => !SEVERITY_ORDER.includes(f.severity)).length;
  if (other) parts.push(`${other} other`);
  return parts.join(", ");
}

/**
 * When a finding starts: "from epoch N" for loss findings (`evidence.step_unit` "epoch"),
 * "from step N" otherwise, "" without a step.
 *
 * Example: whenText({step: 3, evidence: {step_unit: "epoch"}}) === "from epoch 3".
 */
export function whenText(f: Pick<Finding, "step" | "evidence">): string {
  if (f.step === null || f.step === undefined) return "";
  const unit = f.evidence && f.evidence.step_unit === "epoch" ? "epoch" : "step";
  return `from ${unit} ${f.step}`;
}

/** The run whose curves TensorBoard's Scalars tab shows for a loss finding, or null. */
export function scalarsRunOf(f: Pick<Finding, "evidence">): string | null {
  const r = f.evidence ? f.evidence.scalars_run : null;
  return typeof r === "string" && r ? r : null;
}

/**
 * The hash of TensorBoard's Scalars tab showing a loss finding's runs (the training run
 * and its validation sibling, by the runs selector's regex) and their loss tags.
 *
 * Example: scalarsHash({evidence: {scalars_run: "a/train", validation_run: "a/validation"}})
 *   === "scalars&regexInput=%5E(%3F%3Aa%2Ftrain%7Ca%2Fvalidation)%24&tagFilter=loss"
 */
export function scalarsHash(f: Pick<Finding, "evidence">): string {
  const runs = [f.evidence?.scalars_run, f.evidence?.validation_run].filter((r): r is string => typeof r === "string" && r !== "");
  if (!runs.length) return "scalars";
  const esc = (r: string) => r.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const regex = `^(?:${runs.map(esc).join("|")})$`;
  return `scalars&regexInput=${encodeURIComponent(regex)}&tagFilter=loss`;
}

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
  private seq = 0;
  /** Findings fetched elsewhere (the choice of the first run), used once by the next update. */
  private readonly primed = new Map<string, Finding[]>();

  constructor(private readonly onPick: (run: string, tag: string) => void) {
    this.body = el("div", { className: "nv-findings" });
    this.summary = el("span", { className: "nv-help", attrs: { "data-testid": "findings-summary" } });
    this.root = el(
      "details",
      { className: "nv-panel", attrs: { "data-testid": "findings-panel" } },
      el("summary", {}, document.createTextNode("Findings "), this.summary),
      this.body,
    );
    this.root.open = true;
  }

  /** Hands over findings already fetched; the next update shows them instead of asking again. */
  prime(findings: ReadonlyMap<string, Finding[]>): void {
    for (const [run, list] of findings) this.primed.set(run, list);
  }

  /** Fetches and shows the findings of `runs` (in their order). */
  async update(runs: readonly string[]): Promise<void> {
    const seq = ++this.seq;
    this.root.setAttribute("data-loading", "true");
    const primed = new Map(this.primed);
    this.primed.clear();
    const results = await Promise.allSettled(runs.map((r) => primed.get(r) ?? fetchFindings(r)));
    if (seq !== this.seq) return;
    this.root.removeAttribute("data-loading");
    clear(this.body);
    let total = 0;
    let notes = 0;
    results.forEach((res, k) => {
      const run = runs[k];
      const box = el("div", { className: "nv-findings-run", attrs: { "data-testid": "findings-run", "data-run": run } });
      if (res.status === "rejected") {
        const msg = res.reason instanceof Error ? res.reason.message : String(res.reason);
        box.appendChild(el("div", { className: "nv-findings-head", text: `${run}: no findings (${msg})` }));
      } else {
        const list = res.value;
        total += list.filter((f) => f.severity !== "info").length;
        notes += list.filter((f) => f.severity === "info").length;
        box.appendChild(el("div", { className: "nv-findings-head", text: `${run}: ${summarize(list)}` }));
        for (const f of list) box.appendChild(this.item(run, f));
      }
      this.body.appendChild(box);
    });
    setText(this.summary, totals(total, notes));
  }

  private item(run: string, f: Finding): HTMLElement {
    // The card to show: a tensor of the finding's layer (a finding may list others as evidence).
    const tensors = Array.isArray(f.tensors) ? f.tensors : [];
    const tensor = tensors.find((t) => f.layer && t.startsWith(f.layer + "/")) ?? tensors[0] ?? null;
    const where = [f.layer ? `layer ${f.layer}` : "", whenText(f)].filter(Boolean).join(", ");
    const row = el(
      "div",
      {
        className: `nv-finding nv-sev-${SEVERITY_ORDER.includes(f.severity) ? f.severity : "info"}`,
        attrs: { "data-testid": "finding", "data-run": run, "data-kind": f.kind, "data-severity": f.severity, "data-layer": f.layer ?? "" },
      },
      el("span", { className: "nv-sev", text: f.severity }),
      el("span", { className: "nv-finding-kind", text: f.kind.replace(/_/g, " ") }),
      el("span", { className: "nv-finding-where", text: where }),
      el("div", { className: "nv-finding-msg", text: f.message }),
    );
    if (tensor) {
      const link = el("button", {
        className: "nv-button nv-small",
        text: `Show ${f.layer || tensor}`,
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
}

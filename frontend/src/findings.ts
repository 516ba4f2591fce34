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

  /** Fetches and shows the findings of `runs` (in their order). */
  async update(runs: readonly string[]): Promise<void> {
    const seq = ++this.seq;
    this.root.setAttribute("data-loading", "true");
    const results = await Promise.allSettled(runs.map((r) => fetchFindings(r)));
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

/**
 * CSV export of chart series (RFC 4180 quoting) and safe download file names. Pure.
 *
 * Example:
 *   columnsToCsv(["step", "run_a"], [[0, 10], [0.5, null]])
 *     === "step,run_a\r\n0,0.5\r\n10,\r\n"
 *   safeFilename(["run/a", "dense/kernel", "norm"], "csv") === "run_a-dense_kernel-norm.csv"
 */

export type Cell = string | number | null | undefined;

/** One CSV field: null/undefined/NaN -> empty, numbers as shortest round-trip text, strings quoted when needed. */
export function csvField(v: Cell): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") {
    if (Number.isNaN(v)) return "";
    if (v === Infinity) return "inf";
    if (v === -Infinity) return "-inf";
    return String(v);
  }
  // Leading = + - @ would make spreadsheets evaluate a run name as a formula.
  let s = v;
  if (/^[=+\-@\t\r]/.test(s)) s = "'" + s;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Rows to CSV text with CRLF line ends and a trailing line end. */
export function toCsv(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const lines = [header.map(csvField).join(",")];
  for (const r of rows) lines.push(r.map(csvField).join(","));
  return lines.join("\r\n") + "\r\n";
}

/** Column arrays (equal length; shorter columns are padded with empty fields) to CSV text. */
export function columnsToCsv(header: readonly string[], columns: readonly (readonly Cell[])[]): string {
  const n = columns.reduce((m, c) => Math.max(m, c.length), 0);
  const rows: Cell[][] = [];
  for (let k = 0; k < n; k++) rows.push(columns.map((c) => c[k]));
  return toCsv(header, rows);
}

/**
 * A download file name from parts: anything but letters, digits, dot, dash and
 * underscore becomes "_", parts are joined with "-", capped at 150 characters.
 */
export function safeFilename(parts: readonly (string | number)[], ext: string): string {
  const base = parts
    .map((p) => String(p).replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^[._]+/, ""))
    .filter(Boolean)
    .join("-")
    .slice(0, 150);
  return `${base || "nnviz"}.${ext}`;
}

/**
 * HTTP access to the plugin backend and decoding of its binary heatmaps.
 *
 * TensorBoard serves the tab from `<base>/data/plugin_entry.html?name=nnviz`, whose
 * `<base href="plugin/nnviz/">` makes relative URLs resolve under
 * `<base>/data/plugin/nnviz/`; so routes are fetched relative ("tags", "heatmap?...")
 * and TensorBoard behind a path prefix keeps working.
 *
 * Example:
 *   const tags = await fetchTags();
 *   const hm = decodeHeatmap(await fetchHeatmapBuffer("train", "dense/kernel", 10, "prev"));
 *   hm.planes[0][r * hm.cols + c]
 */
import type { Activations, DiffMode, Finding, Heatmap, HeatmapHeader, OverviewRow, Projection, Ranges, Spectral, SpectralRun, TagsResponse, Trajectory } from "./types";

/** An HTTP error with the server's message, readable enough to show in a card. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** The URL of a plugin route, resolved against the document's base URL. */
export function routeUrl(route: string, params: Record<string, string | number> = {}, base?: string): string {
  const url = new URL(route, base ?? document.baseURI);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, String(v));
  return url.toString();
}

/** Extracts a readable message from an error response body (JSON or text). */
export function errorMessage(status: number, body: string): string {
  let text = body.trim();
  try {
    const j = JSON.parse(text) as unknown;
    if (j && typeof j === "object") {
      const o = j as Record<string, unknown>;
      const m = o.error ?? o.message ?? o.detail;
      if (typeof m === "string") text = m;
      else if (m && typeof m === "object" && typeof (m as Record<string, unknown>).message === "string") {
        text = (m as Record<string, string>).message;
      }
    } else if (typeof j === "string") {
      text = j;
    }
  } catch {
    // not JSON: keep the text
  }
  if (text.length > 500) text = text.slice(0, 500) + "…";
  return `${status}: ${text || "request failed"}`;
}

async function get(url: string, signal?: AbortSignal): Promise<Response> {
  const res = await fetch(url, { signal, credentials: "same-origin" });
  if (!res.ok) throw new ApiError(errorMessage(res.status, await res.text()), res.status);
  return res;
}

/** `GET tags`. */
export async function fetchTags(signal?: AbortSignal): Promise<TagsResponse> {
  const res = await get(routeUrl("tags"), signal);
  const j = (await res.json()) as Partial<TagsResponse> | null;
  return { runs: (j && j.runs) || {}, errors: Array.isArray(j?.errors) ? j!.errors : [] };
}

/**
 * How many runs TensorBoard knows (its own `data/runs`, answered before the plugin's
 * `tags`): for the first load's message; null when it cannot tell.
 */
export async function fetchRunCount(): Promise<number | null> {
  try {
    const res = await get(routeUrl("../../runs"));
    const j = (await res.json()) as unknown;
    return Array.isArray(j) ? j.length : null;
  } catch {
    return null;
  }
}

/** `GET heatmap?run=&tag=&step=[&diff=]`, undecoded (so the caller can time the decode). */
export async function fetchHeatmapBuffer(
  run: string,
  tag: string,
  step: number,
  diff: DiffMode,
  signal?: AbortSignal,
): Promise<ArrayBuffer> {
  const params: Record<string, string | number> = { run, tag, step };
  if (diff !== "none") params.diff = diff;
  const res = await get(routeUrl("heatmap", params), signal);
  return res.arrayBuffer();
}

/** `GET trajectory?run=&tag=`: every logged trajectory point of one tensor. */
export async function fetchTrajectory(run: string, tag: string, signal?: AbortSignal): Promise<Trajectory> {
  const res = await get(routeUrl("trajectory", { run, tag }), signal);
  return (await res.json()) as Trajectory;
}

/** `GET ranges?run=&tag=`: a tensor's exact colour ranges over all its steps. */
export async function fetchRanges(run: string, tag: string, signal?: AbortSignal): Promise<Ranges> {
  const res = await get(routeUrl("ranges", { run, tag }), signal);
  return (await res.json()) as Ranges;
}

/** `GET spectral?run=&tag=[&step=]`: a tensor's spectral metrics (and with `step` that step's spectrum). */
export async function fetchSpectral(run: string, tag: string, step?: number, signal?: AbortSignal): Promise<Spectral> {
  const res = await get(routeUrl("spectral", step === undefined ? { run, tag } : { run, tag, step }), signal);
  return (await res.json()) as Spectral;
}

/** `GET spectral?run=`: the latest spectral metrics of every tensor of a run. */
export async function fetchSpectralRun(run: string, signal?: AbortSignal): Promise<SpectralRun> {
  const res = await get(routeUrl("spectral", { run }), signal);
  return (await res.json()) as SpectralRun;
}

/**
 * `GET findings?run=` as sent: a list of findings, or `{"findings": [...], "notes": [...]}`
 * (model/findings.ts' parseFindings reads both).
 */
export async function fetchFindingsJson(run: string, signal?: AbortSignal): Promise<unknown> {
  const res = await get(routeUrl("findings", { run }), signal);
  return (await res.json()) as unknown;
}

/** `GET findings?run=`: what the server's rules found wrong with a run, most severe first (either shape). */
export async function fetchFindings(run: string, signal?: AbortSignal): Promise<Finding[]> {
  const j = await fetchFindingsJson(run, signal);
  const list = Array.isArray(j) ? j : j && typeof j === "object" ? (j as { findings?: unknown }).findings : null;
  return Array.isArray(list) ? (list as Finding[]) : [];
}

/**
 * `GET activations?run=`: a run's activation statistics per layer; null when the run has
 * none (404: runs not trained by `watch`, Keras runs).
 */
export async function fetchActivations(run: string, signal?: AbortSignal): Promise<Activations | null> {
  try {
    const res = await get(routeUrl("activations", { run }), signal);
    const j = (await res.json()) as Partial<Activations> | null;
    return { run, layers: Array.isArray(j?.layers) ? j!.layers : [], run_info: j?.run_info ?? null, errors: Array.isArray(j?.errors) ? j!.errors : [] };
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
}

/** `GET overview?run=`: one row per tensor with its latest statistics. */
export async function fetchOverview(run: string, signal?: AbortSignal): Promise<OverviewRow[]> {
  const res = await get(routeUrl("overview", { run }), signal);
  const j = (await res.json()) as unknown;
  return Array.isArray(j) ? (j as OverviewRow[]) : [];
}

/** `GET projection?run=...&run=...[&tag=]`: the weight-space path of one or more runs. */
export async function fetchProjection(runs: readonly string[], tag: string | null, signal?: AbortSignal): Promise<Projection> {
  const url = new URL(routeUrl("projection"));
  for (const r of runs) url.searchParams.append("run", r);
  if (tag) url.searchParams.set("tag", tag);
  const res = await get(url.toString(), signal);
  return (await res.json()) as Projection;
}

/**
 * Decodes the binary heatmap format:
 *   bytes 0..3      uint32 LE, H = header length
 *   bytes 4..4+H    UTF-8 JSON header (space padded so that 4 + H is a multiple of 4)
 *   rest            float32 LE data, shape header.shape = [planes, rows, cols]
 *
 * Example: decodeHeatmap(buf).planes[0].length === rows * cols.
 * Throws on a truncated or inconsistent buffer.
 */
export function decodeHeatmap(buf: ArrayBuffer): Heatmap {
  if (buf.byteLength < 4) throw new Error(`heatmap response too short (${buf.byteLength} bytes)`);
  const view = new DataView(buf);
  const h = view.getUint32(0, true);
  if (4 + h > buf.byteLength) throw new Error(`heatmap header length ${h} exceeds response size ${buf.byteLength}`);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, h))) as HeatmapHeader;
  const shape = header.shape;
  if (!Array.isArray(shape) || shape.length !== 3 || shape.some((n) => !Number.isInteger(n) || n < 0)) {
    throw new Error(`bad heatmap shape ${JSON.stringify(shape)}`);
  }
  const [p, rows, cols] = shape;
  const n = rows * cols;
  const offset = 4 + h;
  const need = p * n * 4;
  if (buf.byteLength - offset < need) {
    throw new Error(`heatmap data has ${buf.byteLength - offset} bytes, expected ${need}`);
  }
  let data: Float32Array;
  if (offset % 4 === 0 && littleEndian()) {
    data = new Float32Array(buf, offset, p * n);
  } else {
    data = new Float32Array(p * n);
    for (let k = 0; k < p * n; k++) data[k] = view.getFloat32(offset + 4 * k, true);
  }
  const planes: Float32Array[] = [];
  for (let k = 0; k < p; k++) planes.push(data.subarray(k * n, (k + 1) * n));
  return { header, planes, rows, cols };
}

function littleEndian(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}

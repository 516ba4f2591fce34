/**
 * Shapes of the JSON the Python backend serves under /data/plugin/nnviz/.
 * See docs/http_api.md for the authoritative description.
 */

/**
 * How grid cells map back to tensor indices.
 *
 * Example: a conv kernel of shape [kh, kw, in, out] has
 * `{kind: "conv", rows: [2, 0], cols: [3, 1]}`: the grid is
 * `x.transpose(2, 0, 3, 1).reshape(in * kh, out * kw)`.
 */
export interface Layout {
  kind: "matrix" | "vector" | "conv" | "split" | string;
  rows: number[];
  cols: number[];
}

/**
 * One tensor of one run, as listed by `GET tags`. Tensors logged only as trajectories have
 * kind "trajectory" and null layout/grid/pool; the tab draws heatmap cards for kind "heatmap".
 */
export interface TagInfo {
  kind: "heatmap" | "trajectory" | string;
  shape: number[];
  dtype: string | null;
  layout: Layout;
  /** Unpooled grid size [R, C]. */
  grid: [number, number];
  /** Pooling block [br, bc]; the stored heatmap has ceil(R/br) x ceil(C/bc) cells. */
  pool: [number, number];
  planes: string[];
  gates: string[] | null;
  steps: number[];
  group?: string;
  description?: string;
  has_trajectory?: boolean;
  trajectory_steps?: number;
  /** Position in network order (the writer's logging order); null/absent for older logs. */
  index?: number | null;
}

/** `GET ranges?run=&tag=`: max |x| over all logged steps per diff mode (null: no finite value). */
export interface Ranges {
  steps: number;
  none: number | null;
  prev: number | null;
  first: number | null;
}

/** A tag the server could not read (bad metadata, ...), reported beside the good ones. */
export interface TagProblem {
  run?: string;
  tag?: string;
  message?: string;
}

/** `GET tags`: run -> tag -> info. */
export interface TagsResponse {
  runs: Record<string, Record<string, TagInfo>>;
  errors?: TagProblem[];
}

export type DiffMode = "none" | "prev" | "first";

/** The JSON header at the start of a `GET heatmap` response. */
export interface HeatmapHeader {
  step: number;
  wall_time: number;
  /** [planes, rows, cols] */
  shape: [number, number, number];
  planes: string[];
  diff: DiffMode;
  base_step: number | null;
  /** Minimum / maximum over finite values; null when there are none. */
  min: number | null;
  max: number | null;
  nan_count: number;
  posinf_count: number;
  neginf_count: number;
}

/** A decoded `GET heatmap` response. */
export interface Heatmap {
  header: HeatmapHeader;
  /** One row-major rows x cols array per plane (plane 0 = "value" or "mean"). */
  planes: Float32Array[];
  rows: number;
  cols: number;
}

/**
 * `GET trajectory?run=&tag=`: columns over the logged steps. Statistic fields are
 * float-or-null arrays (null where the server had NaN or Inf).
 */
export interface Trajectory {
  run: string;
  tag: string;
  step: number[];
  wall_time: number[];
  norm?: (number | null)[];
  update_norm?: (number | null)[];
  update_ratio?: (number | null)[];
  /** |dW|/|W| per optimizer step (update_ratio / update_steps; the findings' definition). */
  update_ratio_per_step?: (number | null)[];
  /** Optimizer steps since the previous point (null at the first). */
  update_steps?: (number | null)[];
  /** |gradient| and |gradient| / |W| before the step; all null when the writer logged no gradients. */
  grad_norm?: (number | null)[];
  grad_ratio?: (number | null)[];
  /** Seeded sample of single parameters: their tensor indices and values per step. */
  traces?: { index: number[][]; values: (number | null)[][] };
  [field: string]: unknown;
}

/** One run of `GET projection`: path coordinates per common logged step. */
export interface ProjectionRun {
  step: number[];
  x: (number | null)[];
  y: (number | null)[];
  tensors: number;
}

/** `GET projection?run=...&run=...[&tag=]`. */
export interface Projection {
  runs: Record<string, ProjectionRun>;
  explained_variance_ratio: number[];
  tensors: number;
  sketch_dim: number;
}

/** One row of `GET overview?run=`. Statistics are of the latest trajectory step, null when unknown. */
export interface OverviewRow {
  name: string;
  layer: string;
  shape: number[];
  parameters: number;
  step: number | null;
  /** |dW|/|W| over the whole logging interval before `step`. */
  update_ratio: number | null;
  /** The same per optimizer step (what the findings judge; null at a first point). */
  update_ratio_per_step?: number | null;
  /** Optimizer steps between the last two points. */
  update_steps?: number | null;
  /** Latest |gradient| / |W|; null (or absent, older servers) without logged gradients. */
  grad_ratio?: number | null;
  norm: number | null;
  /** NaN + Inf count at the latest step. */
  nonfinite: number | null;
  /** First step of the NaN/Inf norms that last to the latest step (null: the latest norm is finite). */
  nonfinite_from?: number | null;
  /** The latest finite |dW|/|W| per step before `nonfinite_from`, and its step. */
  last_finite_ratio_per_step?: number | null;
  last_finite_step?: number | null;
}

/** One item of `GET findings?run=`: what is wrong, where, from which step (docs/findings.md). */
export interface Finding {
  kind: string;
  severity: "error" | "warning" | "info" | string;
  layer: string | null;
  tensors: string[];
  step: number | null;
  message: string;
  /** What to do, the end of `message` (null when it advises nothing); under a cause, "fix that first". */
  advice?: string | null;
  evidence: Record<string, unknown> | null;
  /** Findings this one explains (compose.nest): listed under it, each with `caused_by`. */
  consequences?: Finding[];
  /** The kind of the cause this finding is a consequence of. */
  caused_by?: string;
}

/** `GET spectral?run=&tag=[&step=]`: a tensor's spectral metrics per logged step (null where undefined). */
export interface Spectral {
  run: string;
  tag: string;
  skipped: string | null;
  band: [number, number];
  step: number[];
  alpha: (number | null)[];
  alpha_weighted: (number | null)[];
  stable_rank: (number | null)[];
  spectral_norm: (number | null)[];
  log_norm: (number | null)[];
  num_tail: (number | null)[];
  xmin: (number | null)[];
  D: (number | null)[];
  num_evals: (number | null)[];
  spectrum?: SpectrumFit;
}

/** One step's eigenvalues (largest first) and the power-law fit of their tail. */
export interface SpectrumFit {
  step: number;
  eigenvalues: number[];
  alpha: number | null;
  xmin: number | null;
  num_tail: number | null;
  D: number | null;
}

/** `GET spectral?run=`: the latest metrics of every tensor with a spectrum. */
export interface SpectralRun {
  run: string;
  band: [number, number];
  /** Fewest eigenvalues whose alpha the findings judge (fewer: noise). */
  min_evals?: number;
  tensors: Record<string, { step: number; alpha: number | null; stable_rank: number | null; skipped: string | null; index?: number | null; num_evals?: number | null }>;
}

/** One layer of `GET activations?run=`: its activation statistics per logged step (null: NaN or not defined). */
export interface ActivationLayer {
  layer: string;
  /** "input" for the model's input, else the activation's kind ("relu", "tanh", ...). */
  kind: string;
  order: number;
  step: number[];
  dead_fraction?: (number | null)[];
  zero_fraction?: (number | null)[];
  saturated_fraction?: (number | null)[];
  mean?: (number | null)[];
  std?: (number | null)[];
  abs_max?: (number | null)[];
  min?: (number | null)[];
  max?: (number | null)[];
  nan_count?: (number | null)[];
}

/** `GET activations?run=`: a run's activation statistics per layer, input first (docs/http_api.md). */
export interface Activations {
  run: string;
  layers: ActivationLayer[];
  run_info: Record<string, unknown> | null;
  errors: { run?: string; tag?: string; message: string }[];
}

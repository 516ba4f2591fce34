/**
 * The tab's CSS, injected as a <style> element at render time (the bundle is a single
 * JS file). Follows TensorBoard's look: Roboto 13px, cards with a subtle shadow, light
 * or dark with TensorBoard (the class `nv-dark` on <html>, set by theme.ts; heatmap
 * colours are the same in both).
 */
import { injectStyleOnce } from "./dom";

const CSS = `
:root {
  --nv-bg: #fff; --nv-fg: #212121; --nv-muted: #616161; --nv-card: #f7f7f7;
  --nv-border: #e0e0e0; --nv-grid: #e0e0e0; --nv-axis: #616161;
  --nv-accent: #f57c00; --nv-error: #c62828; --nv-shadow: rgba(0,0,0,.14);
  --nv-band: rgba(0,0,0,.06); --nv-band-text: #212121; --nv-select: rgba(0,0,0,.07);
  --nv-tip-bg: rgba(33,33,33,.94); --nv-tip-fg: #fff; --nv-tile: rgba(0,0,0,.35);
  /* Status colours away from the runs' category10 hues; glyphs, words and hatching carry the status too. */
  --nv-large: #8b0000; --nv-tiny: #455a64; --nv-stopped: #212121; --nv-ok: #bdbdbd;
  color-scheme: light;
}
/* TensorBoard's dark theme (theme.ts sets the class; the colours follow TB's #303030 / #424242). */
:root.nv-dark {
  --nv-bg: #303030; --nv-fg: #e8eaed; --nv-muted: #b0b3b8; --nv-card: #424242;
  --nv-border: #5c5c5c; --nv-grid: #555; --nv-axis: #b0b3b8;
  --nv-accent: #ff9800; --nv-error: #f28b82; --nv-shadow: rgba(0,0,0,.5);
  --nv-band: rgba(255,255,255,.07); --nv-band-text: #dadce0; --nv-select: rgba(255,255,255,.1);
  --nv-tip-bg: rgba(240,240,240,.96); --nv-tip-fg: #111;
  --nv-large: #ff8a80; --nv-tiny: #90a4ae; --nv-stopped: #f5f5f5; --nv-ok: #5f6368;
  color-scheme: dark;
}
html, body { margin: 0; padding: 0; background: var(--nv-bg); color: var(--nv-fg); }
body { font: 13px Roboto, system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; }
.nv-header { position: sticky; top: 0; z-index: 5; display: flex; flex-wrap: wrap; gap: 8px 16px;
  align-items: center; padding: 8px 16px; background: var(--nv-bg); border-bottom: 1px solid var(--nv-border); }
.nv-header label { display: flex; align-items: center; gap: 6px; color: var(--nv-muted); }
.nv-header label[hidden] { display: none; }
.nv-header select, .nv-header input, .nv-card select { font: inherit; color: var(--nv-fg);
  background: var(--nv-bg); border: 1px solid var(--nv-border); border-radius: 4px; padding: 3px 6px; }
.nv-filter { width: 240px; }
.nv-filter-box { display: inline-flex; flex-direction: column; gap: 2px; }
.nv-filter-note { color: var(--nv-accent); font-size: 11px; max-width: 240px; overflow-wrap: anywhere; }
.nv-filter-note[hidden] { display: none; }
.nv-filter.nv-invalid { border-color: var(--nv-error) !important; outline-color: var(--nv-error); }
.nv-status { color: var(--nv-muted); margin-left: auto; }
.nv-main { padding: 12px 16px 48px; }
.nv-message { max-width: 720px; margin: 32px auto; padding: 16px 20px; background: var(--nv-card);
  border-radius: 4px; box-shadow: 0 1px 3px var(--nv-shadow); line-height: 1.6; }
.nv-message h2 { font-size: 16px; font-weight: 500; margin: 0 0 8px; }
.nv-message code, .nv-message pre { font-family: "Roboto Mono", ui-monospace, Menlo, Consolas, monospace; font-size: 12px; }
.nv-message pre { background: var(--nv-bg); padding: 8px 10px; border-radius: 4px; overflow-x: auto; }
.nv-problems { margin: 0 0 12px; padding: 8px 12px; border-left: 3px solid var(--nv-accent); background: var(--nv-card);
  color: var(--nv-muted); font-size: 12px; overflow-wrap: anywhere; }
.nv-group { margin: 4px 0 16px; }
.nv-group-title { font-size: 14px; font-weight: 500; margin: 8px 0; color: var(--nv-muted); overflow-wrap: anywhere; }
.nv-group-label { font-weight: 400; }
.nv-group-status { font-weight: 400; font-size: 12px; margin-left: 8px; }
.nv-group-status[hidden] { display: none; }
.nv-status-nan, .nv-status-error { color: var(--nv-error); }
.nv-status-warning, .nv-status-stopped, .nv-status-large, .nv-status-tiny { color: var(--nv-accent); }
.nv-group-body { contain: layout; }
/* Large models: the browser skips rendering sections off screen (their size stays known). */
.nv-large .nv-group { content-visibility: auto; contain-intrinsic-size: auto 600px; }
.nv-more { margin: 4px 0 8px; }
.nv-more > summary { cursor: pointer; color: var(--nv-muted); font-size: 12px; padding: 2px 0; }
.nv-block { margin: 0 0 6px; background: var(--nv-card); border-radius: 4px; box-shadow: 0 1px 3px var(--nv-shadow); }
.nv-block[hidden] { display: none; }
.nv-block-head { display: flex; align-items: baseline; gap: 10px; width: 100%; text-align: left; font: inherit; color: var(--nv-fg);
  background: none; border: 0; border-left: 4px solid var(--nv-border); border-radius: 4px; padding: 8px 12px; cursor: pointer; }
.nv-block-head:hover { background: var(--nv-bg); }
.nv-block[data-status="nan"] .nv-block-head, .nv-block[data-status="error"] .nv-block-head { border-left-color: var(--nv-error); }
.nv-block[data-status="warning"] .nv-block-head, .nv-block[data-status="stopped"] .nv-block-head,
.nv-block[data-status="large"] .nv-block-head, .nv-block[data-status="tiny"] .nv-block-head { border-left-color: var(--nv-accent); }
.nv-block-caret { color: var(--nv-muted); display: inline-block; transition: transform 0.1s; }
.nv-block[data-open] .nv-block-caret { transform: rotate(90deg); }
.nv-block-name { font-weight: 500; font-size: 14px; }
.nv-block-summary { color: var(--nv-muted); font-size: 12px; }
.nv-block-body { padding: 0 12px 8px; background: var(--nv-bg); }
.nv-block-body[hidden] { display: none; }
.nv-cards { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.nv-row { display: flex; flex-direction: column; gap: 6px; min-width: 0; }
.nv-row[hidden] { display: none; }
.nv-row-multi { flex: 1 1 100%; }
.nv-row-cards { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
/* Runs side by side share the row's width equally (cardWidth() sizes their heatmaps). */
.nv-row-multi .nv-card { flex: 1 1 0; min-width: 300px; }
.nv-row-bar { background: var(--nv-card); border-radius: 4px; box-shadow: 0 1px 3px var(--nv-shadow); padding: 4px 12px; margin: 0; }
.nv-row-bar[hidden] { display: none; }
.nv-row-title { font-weight: 500; overflow-wrap: anywhere; }
.nv-row-bar .nv-step { max-width: 520px; }
.nv-row-link { display: flex; align-items: center; gap: 4px; color: var(--nv-muted); }
.nv-card { background: var(--nv-card); border-radius: 4px; box-shadow: 0 1px 3px var(--nv-shadow);
  padding: 10px 12px 12px; min-width: 300px; max-width: calc(100vw - 56px); box-sizing: border-box; }
.nv-card-title { font-size: 13px; font-weight: 500; margin: 0 0 2px; overflow-wrap: anywhere; }
.nv-act-label { font-size: 12px; font-weight: 600; margin-bottom: 2px; }
.nv-card-sub { color: var(--nv-muted); font-size: 12px; margin-bottom: 6px; overflow-wrap: anywhere; }
.nv-controls { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 12px; margin-bottom: 8px; }
.nv-step { display: flex; align-items: center; gap: 6px; flex: 1 1 160px; }
.nv-step input[type=range] { flex: 1; min-width: 80px; accent-color: var(--nv-accent); }
.nv-step-label { font-variant-numeric: tabular-nums; min-width: 64px; color: var(--nv-muted); }
.nv-plot { position: relative; }
.nv-heat-fig { display: grid; grid-template-columns: auto auto; justify-content: start; }
.nv-heat-fig .nv-plot { grid-column: 2; grid-row: 2; }
/* The row label never makes the figure taller than the heatmap (a short form, else an ellipsis);
   the column label is centred over it, or widens the figure past a heatmap narrower than the label. */
.nv-axis { font-size: 11px; line-height: 14px; color: var(--nv-muted); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.nv-axis[hidden] { display: none; }
.nv-axis-cols { grid-column: 2; grid-row: 1; text-align: center; max-width: calc(100vw - 96px); }
.nv-axis-rows { grid-column: 1; grid-row: 2; writing-mode: vertical-rl; width: 14px; margin-right: 2px;
  height: 0; min-height: 100%; text-align: center; }
.nv-gated .nv-axis-rows { min-height: calc(100% - 16px); }
.nv-axis.nv-axis-tiles { white-space: normal; }
.nv-heatmap { display: block; cursor: crosshair; image-rendering: pixelated; }
.nv-loading { opacity: .55; transition: opacity .2s; }
.nv-error { color: var(--nv-error); white-space: pre-wrap; overflow-wrap: anywhere; margin: 6px 0; }
.nv-error.nv-note { color: var(--nv-muted); }
.nv-stats { color: var(--nv-muted); font-size: 12px; margin-top: 4px; font-variant-numeric: tabular-nums; }
.nv-colorbar { margin-top: 8px; width: 240px; }
.nv-colorbar canvas { display: block; width: 100%; height: 10px; border-radius: 2px; }
.nv-ticks { position: relative; height: 16px; font-size: 11px; color: var(--nv-muted); font-variant-numeric: tabular-nums; }
.nv-ticks span { position: absolute; top: 2px; transform: translateX(-50%); white-space: nowrap; }
.nv-legend { display: flex; flex-wrap: wrap; gap: 4px 12px; margin-top: 4px; font-size: 12px; }
.nv-swatch { display: inline-block; width: 10px; height: 10px; margin-right: 4px; vertical-align: -1px;
  border: 1px solid var(--nv-border); }
.nv-tooltip { position: fixed; z-index: 20; pointer-events: none; background: var(--nv-tip-bg); color: var(--nv-tip-fg);
  padding: 6px 8px; border-radius: 4px; font-size: 12px; line-height: 1.45; max-width: 360px;
  box-shadow: 0 2px 6px rgba(0,0,0,.3); font-variant-numeric: tabular-nums; }
.nv-tooltip[hidden] { display: none; }
.nv-tooltip .nv-tip-k { opacity: .7; white-space: pre; }
.nv-tooltip .nv-tip-v { font-weight: 500; }
.nv-runs { display: flex; flex-direction: column; gap: 2px; color: var(--nv-muted); }
.nv-runs[hidden] { display: none; }
.nv-runs-head { display: flex; gap: 8px; align-items: baseline; }
.nv-run-list { display: flex; flex-wrap: wrap; gap: 2px 14px; max-height: 96px; overflow-y: auto; max-width: 60vw; }
.nv-run-item { display: flex; align-items: center; gap: 4px; color: var(--nv-fg); cursor: pointer; white-space: nowrap; }
.nv-run-item .nv-swatch { margin-right: 0; }
.nv-run-item input { margin: 0; accent-color: var(--nv-accent); }
.nv-button { font: inherit; font-size: 12px; color: var(--nv-fg); background: var(--nv-bg); border: 1px solid var(--nv-border);
  border-radius: 4px; padding: 2px 8px; cursor: pointer; line-height: 18px; }
.nv-button:hover { border-color: var(--nv-accent); }
.nv-button.nv-small { font-size: 11px; padding: 0 6px; }
.nv-play { min-width: 30px; }
.nv-run-chip { display: inline-block; margin-right: 6px; padding: 0 6px; border-radius: 8px; background: var(--nv-border);
  border-left: 8px solid var(--nv-run, transparent);
  color: var(--nv-fg); font-weight: 400; font-size: 11px; }
.nv-run-chip[hidden] { display: none; }
.nv-heatmap.nv-zoomed { cursor: grab; }
.nv-heatmap.nv-active { outline: 2px solid var(--nv-accent); outline-offset: 1px; }
.nv-zoom-hint { position: absolute; top: 8px; left: 8px; z-index: 2; pointer-events: none; padding: 4px 8px; border-radius: 4px;
  background: var(--nv-tip-bg); color: var(--nv-tip-fg); font-size: 12px; }
.nv-zoom-hint[hidden] { display: none; }
.nv-help { color: var(--nv-muted); font-size: 11px; margin-top: 2px; }
.nv-heatmap.nv-dragging { cursor: grabbing; }
.nv-gates { position: relative; height: 16px; font-size: 11px; color: var(--nv-muted); }
.nv-gates span { position: absolute; top: 1px; transform: translateX(-50%); font-weight: 500; }
.nv-flash { animation: nv-flash 1.4s ease-out; }
@keyframes nv-flash { 0% { box-shadow: 0 0 0 3px var(--nv-accent); } 100% { box-shadow: 0 1px 3px var(--nv-shadow); } }
.nv-panel { background: var(--nv-card); border-radius: 4px; box-shadow: 0 1px 3px var(--nv-shadow); padding: 8px 12px; margin: 0 0 16px; }
.nv-panel > summary { cursor: pointer; font-size: 14px; font-weight: 500; padding: 2px 0 6px; }
.nv-panel .nv-controls { margin-top: 4px; }
.nv-panel label { display: flex; align-items: center; gap: 6px; color: var(--nv-muted); }
.nv-panel select { font: inherit; color: var(--nv-fg); background: var(--nv-bg); border: 1px solid var(--nv-border); border-radius: 4px; padding: 3px 6px; }
.nv-link { color: var(--nv-accent); }
.nv-structure { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.nv-layers-box { display: flex; flex-direction: column; gap: 6px; min-width: 280px; max-width: 560px; flex: 1 1 320px; }
.nv-layers { display: flex; flex-direction: column; gap: 4px; }
.nv-layers.nv-layers-scroll { max-height: 560px; overflow-y: auto; padding-right: 4px; }
.nv-layers.nv-layers-scroll > * { flex-shrink: 0; }
.nv-layer { display: grid; grid-template-columns: 1fr auto; gap: 0 12px; text-align: left; font: inherit; font-size: 12px;
  color: var(--nv-fg); background: var(--nv-bg); border: 1px solid var(--nv-border);
  border-radius: 4px; padding: 4px 8px 4px 16px; cursor: pointer; position: relative; overflow: hidden; }
/* The status bar: solid for healthy and stopped, hatched for large, striped for tiny. */
.nv-layer::before { content: ""; position: absolute; left: 0; top: 0; bottom: 0; width: 8px; background: var(--nv-lfill, var(--nv-border)); }
.nv-layer:hover { border-color: var(--nv-accent); }
.nv-layer-name { font-weight: 500; overflow-wrap: anywhere; }
.nv-layer-type, .nv-layer-params { color: var(--nv-muted); text-align: right; }
.nv-layer-ratio { text-align: right; font-variant-numeric: tabular-nums; }
.nv-layer-alpha { text-align: right; font-variant-numeric: tabular-nums; color: var(--nv-muted); }
.nv-layer-alpha.nv-alpha-out { color: var(--nv-large, #e65100); font-weight: 500; }
.nv-layer-alpha.nv-alpha-noise { opacity: .7; font-style: italic; }
.nv-health-ok { --nv-lfill: var(--nv-ok); }
.nv-health-large { --nv-lfill: repeating-linear-gradient(45deg, var(--nv-large) 0 3px, transparent 3px 6px); }
.nv-health-tiny { --nv-lfill: repeating-linear-gradient(0deg, var(--nv-tiny) 0 2px, transparent 2px 5px); }
.nv-health-stopped { --nv-lfill: var(--nv-stopped); }
.nv-health-nan { --nv-lfill: var(--nv-error); }
.nv-health-legend { display: flex; flex-wrap: wrap; gap: 2px 12px; align-items: center; font-size: 11px; color: var(--nv-muted); }
.nv-health-legend > span { display: inline-flex; align-items: center; gap: 4px; }
.nv-health-legend > span[hidden] { display: none; }
.nv-health-key { display: inline-block; width: 8px; height: 12px; border-radius: 1px; border: 1px solid var(--nv-border); background: var(--nv-lfill, transparent); }
.nv-findings-run { margin: 4px 0 8px; }
.nv-findings-head { font-weight: 500; margin: 4px 0; overflow-wrap: anywhere; }
.nv-finding[hidden] { display: none; }
.nv-finding-note { color: var(--nv-muted); font-size: 12px; margin: 2px 0 2px 16px; }
.nv-findings-more { margin: 4px 0 4px 16px; }
.nv-finding { display: flex; flex-wrap: wrap; align-items: baseline; gap: 2px 10px; padding: 4px 8px; margin: 2px 0;
  border-left: 3px solid var(--nv-sev); background: var(--nv-bg); border-radius: 2px; }
.nv-finding-msg { flex: 1 1 100%; overflow-wrap: anywhere; }
.nv-finding-kind { font-weight: 500; }
.nv-structure-input { color: var(--nv-muted); font-size: 12px; margin: 2px 0 4px; overflow-wrap: anywhere; }
.nv-finding-consequences { margin: 0 0 4px 24px; font-size: 12px; }
.nv-finding[hidden] + .nv-finding-consequences { display: none; }
.nv-finding-consequences > summary { cursor: pointer; color: var(--nv-muted); }
.nv-finding-where { color: var(--nv-muted); }
.nv-sev { color: var(--nv-sev); font-weight: 500; text-transform: uppercase; font-size: 11px; }
.nv-sev-error { --nv-sev: var(--nv-error); }
.nv-sev-warning { --nv-sev: var(--nv-large); }
.nv-sev-info { --nv-sev: var(--nv-tiny); }
.nv-run-sev { font-size: 12px; line-height: 1; cursor: help; }
.nv-table-wrap { max-height: 360px; overflow: auto; }
.nv-table { border-collapse: collapse; font-size: 12px; font-variant-numeric: tabular-nums; min-width: 60%; }
.nv-table th, .nv-table td { text-align: left; padding: 3px 10px; border-bottom: 1px solid var(--nv-border); white-space: nowrap; }
.nv-table th { position: sticky; top: 0; background: var(--nv-card); color: var(--nv-muted); font-weight: 500; }
.nv-table td.nv-num { text-align: right; }
.nv-table tbody tr { cursor: pointer; }
.nv-table tbody tr:hover, .nv-table tbody tr:focus { background: var(--nv-bg); outline: none; }
.nv-table tfoot td { font-weight: 500; border-bottom: none; }
.nv-table .nv-health-large { color: var(--nv-large); font-weight: 500; }
.nv-table .nv-health-tiny { color: var(--nv-tiny); font-weight: 500; }
.nv-table .nv-health-stopped { color: var(--nv-stopped); font-weight: 500; }
.nv-health-word { margin-left: 6px; padding: 0 5px; border-radius: 7px; font-size: 11px; border: 1px solid currentColor; white-space: nowrap; }
.nv-table .nv-bad { color: var(--nv-error); font-weight: 500; }
.nv-note-text { color: var(--nv-muted); font-size: 12px; margin: 6px 0; white-space: pre-wrap; overflow-wrap: anywhere; max-width: 900px; }
.nv-projection { display: block; margin-top: 6px; }
.nv-readout { color: var(--nv-muted); font-size: 12px; min-height: 18px; font-variant-numeric: tabular-nums; }
.nv-layer-charts { margin: 0 0 12px; }
.nv-spectrum-pick { display: flex; gap: 6px; align-items: center; margin: 2px 0 4px; font-size: 12px; }
.nv-spectrum-pick select { max-width: 260px; }
.nv-chart-row { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
.nv-chart-row[hidden] { display: none; }
.nv-traces-row { margin-top: 8px; }
.nv-chart { background: var(--nv-card); border-radius: 4px; box-shadow: 0 1px 3px var(--nv-shadow); padding: 6px 8px; }
.nv-chart-head { display: flex; align-items: center; justify-content: space-between; gap: 8px; margin-bottom: 2px; }
.nv-chart-title { font-size: 12px; font-weight: 500; overflow-wrap: anywhere; }
.nv-chart-empty { color: var(--nv-muted); font-size: 11px; }
.nv-chart .u-legend { font-size: 11px; text-align: left; }
.nv-chart-key, .nv-chart-readout { font-size: 11px; line-height: 16px; min-height: 16px; width: 0; min-width: 100%;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; font-variant-numeric: tabular-nums; }
.nv-chart-key { display: flex; gap: 2px 10px; flex-wrap: wrap; white-space: normal; color: var(--nv-muted); }
.nv-chart-key[hidden] { display: none; }
.nv-chart-hint { color: var(--nv-muted); }
.nv-band-label { position: absolute; left: 4px; z-index: 1; pointer-events: none; padding: 0 3px; border-radius: 2px;
  font-size: 10px; line-height: 12px; white-space: nowrap; color: var(--nv-band-text); background: var(--nv-card); opacity: .9; }
.nv-band-label[hidden] { display: none; }
.nv-dash-sample { width: 22px; height: 8px; margin-right: 4px; vertical-align: 0; }
.nv-paths { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
.nv-path-box { display: flex; flex-direction: column; }
.nv-path-title { font-size: 12px; font-weight: 500; overflow-wrap: anywhere; }
.nv-path-scale { font-size: 11px; color: var(--nv-muted); font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
.nv-seg { display: inline-flex; border: 1px solid var(--nv-border); border-radius: 4px; overflow: hidden; }
.nv-seg button { font: inherit; font-size: 12px; color: var(--nv-fg); background: var(--nv-bg); border: none; padding: 2px 10px; cursor: pointer; }
.nv-seg button + button { border-left: 1px solid var(--nv-border); }
.nv-seg button[aria-pressed=true] { background: var(--nv-accent); color: #fff; }
.nv-marker { display: inline-block; width: 9px; height: 9px; border-radius: 50%; vertical-align: -1px; margin: 0 3px; box-sizing: border-box; }
.nv-marker-start { border: 2px solid var(--nv-fg); background: var(--nv-bg); }
.nv-marker-end { background: var(--nv-fg); }
.nv-chart .u-legend .u-series > * { padding: 1px 2px; }
.nv-chart .u-legend .u-marker { width: 10px; height: 3px; }
.nv-chart .uplot .u-select { background: var(--nv-select); }
.nv-chart .uplot .u-legend { color: var(--nv-fg); }
`;

/** Adds the stylesheet once per document. */
export function injectStyle(doc: Document = document): void {
  injectStyleOnce(doc, "nnviz-style", CSS);
}

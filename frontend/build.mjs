// Build script.
//
//   node build.mjs          -> ../tb_nnviz/serve/static/index.js (one minified ES module, es2020)
//   node build.mjs --tests  -> .test-build/*.test.mjs (each test/*.test.ts bundled for node --test)
//
// Everything is bundled: TensorBoard loads the tab under a CSP that allows no outside hosts.
import { build } from "esbuild";
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

if (process.argv.includes("--tests")) {
  const outdir = join(here, ".test-build");
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const entryPoints = readdirSync(join(here, "test"))
    .filter((f) => f.endsWith(".test.ts"))
    .map((f) => join(here, "test", f));
  await build({
    entryPoints,
    outdir,
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    outExtension: { ".js": ".mjs" },
    sourcemap: "inline",
    loader: { ".css": "text" },
    logLevel: "warning",
  });
} else {
  const outdir = join(here, "..", "tb_nnviz", "serve", "static");
  mkdirSync(outdir, { recursive: true });
  await build({
    entryPoints: [join(here, "src", "index.ts")],
    outfile: join(outdir, "index.js"),
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2020",
    minify: true,
    loader: { ".css": "text" },
    legalComments: "none",
    logLevel: "warning",
  });
  console.log(`built ${join(outdir, "index.js")}`);
}

import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

// The tests run bundled from .test-build/: the sources are one level up, in src/.
const SRC = join(dirname(fileURLToPath(import.meta.url)), "..", "src");

/** Every relative import of the .ts files of `folder` (under src/): [file, specifier, type-only]. */
function imports(folder: string): [string, string, boolean][] {
  const out: [string, string, boolean][] = [];
  for (const f of readdirSync(join(SRC, folder)).filter((n) => n.endsWith(".ts"))) {
    const text = readFileSync(join(SRC, folder, f), "utf8");
    for (const m of text.matchAll(/^import\s+(type\s+)?[^;]*?from\s+"(\.[^"]+)";/gms)) out.push([`${folder}/${f}`, m[2], !!m[1]]);
  }
  return out;
}

test("model/ is pure: it imports only model/ and the types of data/", () => {
  const bad = imports("model").filter(([, spec]) => !spec.startsWith("./") && spec !== "../data/types");
  assert.deepEqual(bad, []);
  assert.ok(imports("model").length > 5, "the folder was read");
});

test("data/ imports only data/ (no views, no DOM helpers)", () => {
  assert.deepEqual(imports("data").filter(([, spec]) => !spec.startsWith("./")), []);
});

test("ui/ imports no views and no data fetching", () => {
  const bad = imports("ui").filter(([, spec]) => spec.startsWith("../views/") || spec.startsWith("../data/"));
  assert.deepEqual(bad, []);
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { canvasColor } from "../src/views/chart";
import { applyTheme, hostBody, onThemeChange, themeFor } from "../src/ui/theme";

test("the theme follows TensorBoard's body class when framed, the OS preference only on its own", () => {
  assert.equal(themeFor(["dark-mode"], false), "dark");
  assert.equal(themeFor(["foo", "dark-mode"], false), "dark");
  // TensorBoard's own setting wins over the OS: "light" there means light here.
  assert.equal(themeFor([], true), "light");
  assert.equal(themeFor(["darkmode"], true), "light");
  assert.equal(themeFor(null, true), "dark");
  assert.equal(themeFor(null, false), "light");
});

test("no TensorBoard host: not framed, or a cross-origin parent", () => {
  const self = {} as Window & { parent: Window };
  self.parent = self;
  assert.equal(hostBody(self), null);
  const framed = {
    parent: {
      get document(): Document {
        throw new DOMException("Blocked a frame", "SecurityError");
      },
    },
  } as unknown as Window;
  assert.equal(hostBody(framed), null);
  const body = { tagName: "BODY" } as unknown as HTMLElement;
  const notTb = { parent: { document: { body, querySelector: () => null } } } as unknown as Window;
  assert.equal(hostBody(notTb), null);
  const tb = { parent: { document: { body, querySelector: (s: string) => (s === "tb-webapp" ? {} : null) } } } as unknown as Window;
  assert.equal(hostBody(tb), body);
});

test("applyTheme sets the class and data-theme and notifies only on a change", () => {
  const classes = new Set<string>();
  const attrs = new Map<string, string>();
  const doc = {
    documentElement: {
      classList: { toggle: (c: string, on: boolean) => (on ? classes.add(c) : classes.delete(c)) },
      setAttribute: (k: string, v: string) => attrs.set(k, v),
    },
  } as unknown as Document;
  const seen: string[] = [];
  const off = onThemeChange((t) => seen.push(t));
  applyTheme("light", doc); // already light: no notification
  applyTheme("dark", doc);
  assert.ok(classes.has("nv-dark"));
  assert.equal(attrs.get("data-theme"), "dark");
  applyTheme("dark", doc);
  applyTheme("light", doc);
  assert.ok(!classes.has("nv-dark"));
  off();
  applyTheme("dark", doc);
  assert.deepEqual(seen, ["dark", "light"]);
  applyTheme("light", doc);
});

test("canvas colours: plain colours pass, var() is resolved", () => {
  assert.equal(canvasColor("#1f77b4"), "#1f77b4");
  assert.equal(canvasColor("rgb(1, 2, 3)"), "rgb(1, 2, 3)");
  // No document under node: the fallback.
  assert.equal(canvasColor("var(--nv-muted)"), "#888");
});

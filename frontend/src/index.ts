/**
 * Entry point TensorBoard calls: `import("./index.js").then((m) => m.render())` inside the
 * plugin iframe, whose document.body is ours.
 *
 * Example (standalone page): <script type="module">import {render} from "./index.js"; render();</script>
 */
import { App } from "./app";
import { injectStyle } from "./style";
import { followTheme } from "./theme";

export async function render(): Promise<void> {
  injectStyle(document);
  followTheme(document, window);
  const app = new App(document.body);
  await app.start();
}

/**
 * Entry point TensorBoard calls: `import("./index.js").then((m) => m.render())` inside the
 * plugin iframe, whose document.body is ours.
 *
 * Example (standalone page): <script type="module">import {render} from "./index.js"; render();</script>
 */
import { injectStyle } from "./ui/style";
import { followTheme } from "./ui/theme";
import { App } from "./views/app";

export async function render(): Promise<void> {
  injectStyle(document);
  followTheme(document, window);
  const app = new App(document.body);
  await app.start();
}

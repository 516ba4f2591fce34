/**
 * The guest side of TensorBoard's plugin IPC, enough to hear "data reloaded".
 *
 * Protocol (tensorboard/components/experimental/plugin_lib/plugin-guest.ts and
 * plugin_util/message.ts in the TensorBoard repository):
 *   1. The iframe creates a MessageChannel and posts the string "experimental.bootstrap"
 *      to window.parent, transferring port2.
 *   2. The host sends JSON strings {type, id, payload, error, isReply: false} on the port;
 *      the guest answers each with {type, id, payload, error, isReply: true}.
 *   3. "experimental.DataReloaded" is broadcast whenever TensorBoard reloads data (the
 *      reload button or auto-reload); "experimental.RunsChanged" carries the run list.
 *
 * Example: onDataReloaded(() => app.reload());
 */

const VERSION = "experimental";
export const DATA_RELOADED = `${VERSION}.DataReloaded`;

interface Message {
  type: string;
  id: number;
  payload: unknown;
  error: string | null;
  isReply: boolean;
}

type Handler = (payload: unknown) => unknown;

/**
 * Connects to the TensorBoard host (if framed) and calls `handlers[type]` for host
 * messages. Returns false when there is no parent frame to talk to.
 */
export function connectHost(handlers: Record<string, Handler>): boolean {
  if (typeof window === "undefined" || !window.parent || window.parent === window) return false;
  const channel = new MessageChannel();
  const port = channel.port1;
  port.addEventListener("message", (event: MessageEvent) => {
    let msg: Message;
    try {
      msg = JSON.parse(String(event.data)) as Message;
    } catch {
      return;
    }
    if (!msg || typeof msg !== "object" || msg.isReply) return;
    let payload: unknown = null;
    let error: string | null = null;
    const handler = handlers[msg.type];
    if (handler) {
      try {
        payload = handler(msg.payload) ?? null;
      } catch (e) {
        error = String(e);
      }
    }
    const reply: Message = { type: msg.type, id: msg.id, payload, error, isReply: true };
    port.postMessage(JSON.stringify(reply));
  });
  port.start();
  window.parent.postMessage(`${VERSION}.bootstrap`, "*", [channel.port2]);
  return true;
}

/** Calls `callback` on every TensorBoard data reload. Returns false when not framed. */
export function onDataReloaded(callback: () => void): boolean {
  return connectHost({ [DATA_RELOADED]: () => void callback() });
}

/**
 * The arbiter's Unix socket. A socket file left by a dead arbiter is replaced; one that still answers
 * belongs to a live arbiter and is refused, so two arbiters never serve one path.
 */
import { chmodSync, existsSync, lstatSync, unlinkSync } from "node:fs";
import type { SocketHandler, UnixSocketListener } from "bun";
import { failure } from "../errors.ts";
import type { Connection } from "./connection.ts";

const PROBE_TIMEOUT_MS = 1000;

/** Call `clearStaleSocket` first, before anything else is touched: it is what refuses a second arbiter. */
export function listenUnix(
  path: string,
  handlers: SocketHandler<Connection>,
): UnixSocketListener<Connection> {
  const server = Bun.listen<Connection>({ unix: path, socket: handlers });
  // 0660: the owner and its group (e.g. the group QEMU runs as) may connect, nobody else.
  chmodSync(path, 0o660);
  return server;
}

export async function clearStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  if (!lstatSync(path).isSocket())
    throw failure(
      "InvalidArgument",
      `listen on ${path}`,
      "a file that is not a socket is in the way (choose another --socket)",
    );
  if (await socketAnswers(path))
    throw failure(
      "ArbiterRunning",
      `listen on ${path}`,
      "another arbiter is serving it (stop it, or choose another --socket)",
    );
  unlinkSync(path);
}

/** Whether something accepts connections on the Unix socket at `path` (within a second). */
export function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), PROBE_TIMEOUT_MS);
    Bun.connect({
      unix: path,
      socket: {
        open(socket) {
          clearTimeout(timer);
          socket.end();
          resolve(true);
        },
        data() {},
        connectError() {
          clearTimeout(timer);
          resolve(false);
        },
      },
    }).catch(() => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

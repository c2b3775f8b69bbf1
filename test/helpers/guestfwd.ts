/**
 * A stand-in for QEMU's `guestfwd=tcp:...-cmd:ivsh bridge ...`: a TCP listener that runs one real
 * `ivsh bridge` process per connection, with the connection on its stdin/stdout.
 */
import type { Subprocess, TCPSocketListener } from "bun";
import { CLI } from "./paths.ts";

export interface FakeGuestfwd {
  port: number;
  bridges: Subprocess[];
  stop(): void;
}

export function fakeGuestfwd(vm: string, socketPath: string): FakeGuestfwd {
  const bridges: Subprocess<"pipe", "pipe", "inherit">[] = [];
  const listener: TCPSocketListener<Subprocess<"pipe", "pipe", "inherit">> = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        const bridge = Bun.spawn([process.execPath, CLI, "bridge", "--vm", vm, "--socket", socketPath], {
          stdin: "pipe",
          stdout: "pipe",
          stderr: "inherit",
        });
        bridges.push(bridge);
        socket.data = bridge;
        void (async () => {
          for await (const chunk of bridge.stdout) socket.write(chunk);
          socket.end();
        })();
      },
      data(socket, bytes) {
        socket.data.stdin.write(bytes);
        void socket.data.stdin.flush();
      },
      close(socket) {
        void socket.data?.stdin.end();
      },
    },
  });
  return { port: listener.port, bridges, stop: () => listener.stop(true) };
}

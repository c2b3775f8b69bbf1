/**
 * Stand-ins for QEMU's `guestfwd=tcp:...-cmd:ivsh bridge ...`: a TCP listener that runs one real
 * `ivsh bridge` process per connection, with the connection on its stdin/stdout: through two pipes
 * (`fakeGuestfwd`: the bridge must relay) or one socket (`socketGuestfwd`, as QEMU does: it hands over).
 */
import { dirname } from "node:path";
import type { FdSocketOptions, Socket, Subprocess, TCPSocketListener } from "bun";
import { streamSocketPair } from "../../src/ffi/fd-passing.ts";
import { closeFd } from "../../src/ffi/index.ts";
import { CLI } from "./paths.ts";
import { tracked } from "./reaper.ts";

export interface FakeGuestfwd {
  port: number;
  bridges: Subprocess[];
  stop(): void;
}

/** Where the bridges' stderr goes: inherited, or (`logged`) each bridge's collected into `logged`. */
export interface GuestfwdOptions {
  logged?: Promise<string>[];
  /** Added to the bridges' environment (IVSH_BRIDGE=relay). */
  env?: Record<string, string>;
}

/**
 * `ivsh bridge --vm VM --socket SOCKET` as QEMU runs it: one end of a socket pair as its stdin and stdout
 * (`stdout: "pipe"`: only its stdin), its stderr piped, no colour, `env` added to this process's. `mine` is
 * the guest's end, for the test to use and close.
 */
export function bridgeOnSocketPair(
  vm: string,
  socket: string,
  options: { env?: Record<string, string>; stdout?: "pipe" } = {},
) {
  const [mine, theirs] = streamSocketPair();
  const bridge = tracked(
    Bun.spawn([process.execPath, CLI, "bridge", "--vm", vm, "--socket", socket], {
      stdin: theirs,
      stdout: options.stdout ?? theirs,
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1", ...options.env },
    }),
  );
  closeFd(theirs);
  return { bridge, mine };
}

/**
 * The bridges' environment: their temporary directory (where they keep a full queue's marker,
 * src/host/bridge-episodes.ts) beside the socket, which the test removes, not the machine's.
 */
function bridgeEnv(socketPath: string, options: GuestfwdOptions): Record<string, string | undefined> {
  return { ...process.env, TMPDIR: dirname(socketPath), ...options.env };
}

function bridgeStderr(bridge: Subprocess, options: GuestfwdOptions): void {
  if (options.logged && bridge.stderr instanceof ReadableStream)
    options.logged.push(new Response(bridge.stderr).text());
}

export function fakeGuestfwd(vm: string, socketPath: string, options: GuestfwdOptions = {}): FakeGuestfwd {
  const bridges: Subprocess<"pipe", "pipe">[] = [];
  const listener: TCPSocketListener<Subprocess<"pipe", "pipe">> = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        const bridge = tracked(
          Bun.spawn([process.execPath, CLI, "bridge", "--vm", vm, "--socket", socketPath], {
            stdin: "pipe",
            stdout: "pipe",
            stderr: options.logged ? "pipe" : "inherit",
            env: bridgeEnv(socketPath, options),
          }),
        );
        bridgeStderr(bridge, options);
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

/** bun-types 1.4.5 declares FdSocketOptions but no Bun.connect overload taking it; the runtime has one. */
const connectFd = Bun.connect as unknown as <Data>(options: FdSocketOptions<Data>) => Promise<Socket<Data>>;

/**
 * As QEMU's user-mode network really does it: the bridge gets one socket (a socketpair end) on both stdin
 * and stdout, and the stand-in relays between the TCP connection and its own end, as slirp relays
 * between the guest's TCP and it. A bridge given this can hand the connection over and exit.
 */
export function socketGuestfwd(vm: string, socketPath: string, options: GuestfwdOptions = {}): FakeGuestfwd {
  const bridges: Subprocess[] = [];
  const listener = Bun.listen<{ inner?: Socket<undefined>; early: Uint8Array[] }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(outer) {
        outer.data = { early: [] };
        const [mine, theirs] = streamSocketPair();
        const bridge = tracked(
          Bun.spawn([process.execPath, CLI, "bridge", "--vm", vm, "--socket", socketPath], {
            stdin: theirs,
            stdout: theirs,
            stderr: options.logged ? "pipe" : "inherit",
            env: bridgeEnv(socketPath, options),
          }),
        );
        bridgeStderr(bridge, options);
        closeFd(theirs);
        bridges.push(bridge);
        void connectFd<undefined>({
          fd: mine,
          socket: {
            data: (_inner, bytes) => void outer.write(bytes),
            close: () => void outer.end(),
          },
        }).then((inner) => {
          for (const bytes of outer.data.early) inner.write(bytes);
          outer.data.inner = inner;
        });
      },
      data(outer, bytes) {
        if (outer.data.inner) outer.data.inner.write(bytes);
        else outer.data.early.push(bytes);
      },
      close(outer) {
        outer.data.inner?.end();
      },
    },
  });
  return { port: listener.port, bridges, stop: () => listener.stop(true) };
}

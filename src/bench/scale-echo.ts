/**
 * The scale benchmark's floor: the same shape without ivsh. `echo-server` answers every request on a
 * Unix socket with its own bytes; `echo-load` is a load process like scale-load (its connections, the
 * same open-loop pacing and timing) whose requests are 32-byte echoes. Measured in the same run, after
 * the arbiter has stopped, so the ratio of the two tails says how much of ivsh's is its own.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Socket } from "bun";
import { temporaryDirectory, withChildren } from "./child.ts";
import { type LoadConnection, openLoad, signal } from "./open-loop.ts";
import { emit, Messages, nextEvent, startWorker, type WorkerFlags } from "./worker-io.ts";

const REQUEST_BYTES = 32;
const FLOOR_TIMEOUT_MS = 5 * 60_000;

export async function runEchoServer(flags: WorkerFlags): Promise<void> {
  const listener = Bun.listen({
    unix: flags.string("address"),
    socket: { data: (socket, bytes) => void socket.write(bytes) },
  });
  emit({ event: "ready" });
  await new Promise((resolve) => process.once("SIGTERM", resolve));
  listener.stop(true);
}

interface EchoConnection extends LoadConnection {
  socket: Socket<undefined>;
  answered: (() => void) | undefined;
}

export async function runEchoLoad(flags: WorkerFlags): Promise<void> {
  const loadSignal = signal("SIGUSR1");
  const connections = await Promise.all(
    Array.from({ length: flags.count("clients") }, () => connectEcho(flags.string("address"))),
  );
  emit({ event: "ready" });
  await loadSignal;
  const request = new Uint8Array(REQUEST_BYTES);
  const load = await openLoad(flags.number("seconds"), flags.number("rate"), connections, (idle) => {
    const answered = new Promise<string>((resolve) => {
      idle.answered = () => resolve("echo");
    });
    idle.socket.write(request);
    return answered;
  });
  emit({ event: "load", ...load });
  for (const connection of connections) connection.socket.end();
}

async function connectEcho(address: string): Promise<EchoConnection> {
  const connection: EchoConnection = {
    socket: undefined as unknown as Socket<undefined>,
    busy: false,
    answered: undefined,
  };
  // A request is one write of 32 bytes and may come back in pieces: it is answered when all of it is back.
  const answers = new Messages(REQUEST_BYTES);
  connection.socket = await Bun.connect({
    unix: address,
    socket: {
      data: (_socket, bytes) => {
        if (answers.add(bytes).byteLength > 0) connection.answered?.();
      },
    },
  });
  return connection;
}

/** The parent's side: the floor with `processes` × `clients` connections at `rate` for `seconds`. */
export async function measureEchoFloor(
  shape: { processes: number; clients: number; rate: number; seconds: number },
  workerCommand: readonly string[],
): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), "ivsh-echo-"));
  const removeDir = temporaryDirectory(dir);
  const address = join(dir, "echo.sock");
  try {
    return await withChildren("measure the echo floor", FLOOR_TIMEOUT_MS, async (children) => {
      const server = startWorker(children, workerCommand, "echo-server", { address }, "echo server");
      await nextEvent(server, "ready");
      const { clients, seconds } = shape;
      const flags = { address, clients, rate: shape.rate / shape.processes, seconds };
      const loads = Array.from({ length: shape.processes }, (_, index) =>
        startWorker(children, workerCommand, "echo-load", flags, `echo load ${index}`),
      );
      for (const load of loads) await nextEvent(load, "ready");
      for (const load of loads) process.kill(load.pid, "SIGUSR1");
      const reports = await Promise.all(loads.map((load) => nextEvent(load, "load")));
      return reports.flatMap((report) => (report.latencies as { echo?: number[] }).echo ?? []);
    });
  } finally {
    removeDir();
  }
}

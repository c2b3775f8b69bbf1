import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { startChild, withChildren } from "../../src/bench/child.ts";
import { measureStream, type StreamTransfer } from "../../src/bench/stream.ts";
import { testWithTool } from "../helpers/tools.ts";

const MiB = 1024 * 1024;

/** Live (not zombie) child processes of this test process, from /proc. */
function liveChildren(): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .flatMap((pid) => {
      try {
        // Fields after the parenthesised command: state, ppid, ...
        const [state, ppid] = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
        return Number(ppid) === process.pid && state !== "Z" ? [Number(pid)] : [];
      } catch {
        return []; // exited while we looked
      }
    });
}

async function expectNoChildrenLeft(): Promise<void> {
  for (let attempt = 0; attempt < 100 && liveChildren().length > 0; attempt++) await Bun.sleep(20);
  expect(liveChildren()).toEqual([]);
}
describe("stream baselines between two processes", () => {
  test("64 MiB over a Unix socket with Bun sockets arrives complete", async () => {
    const result = await measureStream("unix-bun", { bytes: 64 * MiB });
    expect((result as StreamTransfer).seconds).toBeGreaterThan(0);
    expect(result).toMatchObject({ bytes: 64 * MiB });
  });

  test("TCP loopback, with a size that is not a multiple of the chunk", async () => {
    const bytes = 16 * MiB + 12345;
    const result = await measureStream("tcp-bun", { bytes });
    expect(result).toMatchObject({ bytes, seconds: expect.any(Number) });
  });

  testWithTool("socat", "socat with 1 MiB buffers counts its bytes from its own log", async () => {
    const result = await measureStream("unix-socat", { bytes: 64 * MiB + 1 });
    expect(result).toMatchObject({ bytes: 64 * MiB + 1, seconds: expect.any(Number) });
    expect((result as StreamTransfer).reads).toBeGreaterThan(0);
  });

  test("a missing socat is reported, not measured as zero", async () => {
    const socatCommand = "/nonexistent/socat";
    const result = await measureStream("unix-socat", { bytes: MiB, socatCommand });
    expect(result).toEqual({ unavailable: "socat is not installed" });
  });

  // What every measurement's workers get (withChildren, startChild), shown with stand-in workers.
  test("a worker that fails is reported with its own error, and nothing is left running", async () => {
    const broken = [process.execPath, "-e", "console.error('boom'); process.exit(3)"];
    const run = withChildren("stream", 10_000, (children) =>
      startChild(children, broken, "receiver").finish(),
    );
    await expect(run).rejects.toThrow(/receiver.*code 3: boom/);
    await expectNoChildrenLeft();
  });

  /**
   * The echo server removes its socket as it exits; its caller then removes the socket's directory. Done at
   * once, Bun's rmSync(recursive, force) gave up silently when the socket vanished under it, and left the
   * directory: the caller must find its workers gone when withChildren returns.
   */
  test("withChildren returns once its workers have exited, their own cleanup done", async () => {
    const slowToExit = [
      process.execPath,
      "-e",
      "process.on('SIGTERM', () => setTimeout(() => process.exit(0), 300)); setInterval(() => {}, 1000); console.log('ready')",
    ];
    let worker: ReturnType<typeof startChild> | undefined;
    await withChildren("stream", 10_000, async (children) => {
      worker = startChild(children, slowToExit, "echo server");
      await worker.nextLine();
    });
    expect(worker?.exited).toBe(true);
  });

  test("a hung worker is killed at the time limit", async () => {
    const hung = [process.execPath, "-e", "setInterval(() => {}, 1000)"];
    const started = Date.now();
    const run = withChildren("stream", 500, (children) => startChild(children, hung, "receiver").finish());
    await expect(run).rejects.toThrow(/longer than/);
    expect(Date.now() - started).toBeLessThan(10_000);
    await expectNoChildrenLeft();
  });
});

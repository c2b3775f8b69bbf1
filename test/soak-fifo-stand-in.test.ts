/**
 * The soak's pipe ends reach their ivsh end through a FIFO, which each side's shell opens before the
 * program runs. A pipe end killed before its shell opened it left the other side waiting in open(2) for
 * ever (seed 9414 scenario 225: "sender did not end within the bound", its shell in wait_for_partner), a
 * hang of the harness reported as ivsh's. A dead end now stands in at its FIFO, as a pipe's would: the
 * reader sees EOF, the writer gets through its open.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeFifo, spawnTracked } from "./soak/harness.ts";

const directory = mkdtempSync(join(tmpdir(), "soak-fifo-"));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

/** Generous: the peer's open returns within a poll of the stand-in once the dead end has exited. */
const BOUND_MS = 20_000;

async function killedBeforeOpening(fifo: string, side: "stdoutTo" | "stdinFrom") {
  // With no peer yet, its shell blocks in open(2): killed there, it never opened the FIFO.
  const end = spawnTracked({ name: "pipe-end", isIvsh: false, [side]: fifo, argv: ["true"] });
  await Bun.sleep(100);
  end.proc.kill("SIGKILL");
  await end.proc.exited;
}

test("a writer killed before opening its FIFO: the reader sees EOF instead of waiting in open(2)", async () => {
  const fifo = makeFifo(join(directory, "in.fifo"));
  await killedBeforeOpening(fifo, "stdoutTo");
  const reader = spawnTracked({ name: "reader", isIvsh: true, stdinFrom: fifo, argv: ["cat"] });
  expect(await reader.endsWithin(BOUND_MS)).toBe(true);
  expect(reader.proc.exitCode).toBe(0);
  expect(await reader.stdout).toBe("");
});

test("a reader killed before opening its FIFO: the writer gets through its open and ends", async () => {
  const fifo = makeFifo(join(directory, "out.fifo"));
  await killedBeforeOpening(fifo, "stdinFrom");
  const writer = spawnTracked({ name: "writer", isIvsh: true, stdoutTo: fifo, argv: ["echo", "lost"] });
  expect(await writer.endsWithin(BOUND_MS)).toBe(true);
});

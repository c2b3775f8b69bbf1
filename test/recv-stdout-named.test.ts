/**
 * `guest recv --out /dev/stdout` (a name of its stdout) whose sender dies mid-stream: the bytes already
 * written cannot be taken back, and the warning names where they went as the user knows it, stdout,
 * whatever name of it --out gave (src/commands/guest-recv.ts).
 */
import { expect, test } from "bun:test";
import { statSync } from "node:fs";
import { join } from "node:path";
import { CLI } from "./helpers/paths.ts";
import { eventually } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { clientEnv, guest } from "./helpers/transfer.ts";

const suite = sharedArbiter("recv-stdout-named");

test("a sender killed mid-stream into recv --out /dev/stdout: the bytes written to stdout are said unverified", async () => {
  const channel = "stdout-named";
  const out = join(suite.dir, "received");
  const receiver = tracked(
    Bun.spawn([process.execPath, CLI, "guest", "recv", "--channel", channel, "--out", "/dev/stdout"], {
      stdout: Bun.file(out),
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1", ...clientEnv(suite.paths) },
    }),
  );
  const said = new Response(receiver.stderr).text();
  const sender = guest(suite.paths, ["send", "-", "--channel", channel, "--chunk-size", "64KiB"]);
  // A stream that goes on until the sender is killed: its first bytes are written out meanwhile.
  sender.proc.stdin.write(new Uint8Array(256 << 10).fill(7));
  await sender.proc.stdin.flush();
  await eventually(
    async () => (statSync(out, { throwIfNoEntry: false })?.size ?? 0) > 0,
    20_000,
    "bytes written to the receiver's stdout",
  );
  sender.proc.kill("SIGKILL");
  await sender.proc.exited;
  expect(await receiver.exited).toBe(1);
  const text = await said;
  expect(text).toMatch(/the \d+ bytes written to stdout are an incomplete, unverified stream: discard them/);
  expect(text).not.toContain("written to /dev/stdout");
}, 60_000);

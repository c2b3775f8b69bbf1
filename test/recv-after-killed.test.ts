/**
 * The receive after one that was killed outright (kill -9, the OOM killer, its VM reset) while it waited
 * for its sender: that receiver could not remove its FILE.partial, which holds nothing. The next
 * `recv --out FILE` takes it over, without --force (which would also agree to replace FILE); a partial
 * that holds bytes stays refused, and so does FILE itself.
 */
import { expect, test } from "bun:test";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { eventually } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { guest, randomFile, sameBytes } from "./helpers/transfer.ts";

const suite = sharedArbiter("recv-after-killed");

/** Starts a receiver into `output` and kills it (-9) once its FILE.partial is there. */
async function killedWaiting(channel: string, output: string): Promise<void> {
  const receiver = guest(suite.paths, ["recv", "--channel", channel, "--out", output]);
  await eventually(async () => existsSync(`${output}.partial`), 20_000, "the receiver creating FILE.partial");
  receiver.proc.kill("SIGKILL");
  expect(await receiver.exit()).toBe(137);
  expect(statSync(`${output}.partial`).size).toBe(0);
}

test("recv --out FILE after a receiver killed -9 while it waited: the empty FILE.partial is taken over", async () => {
  const output = join(suite.dir, "after-kill.out");
  await killedWaiting("after-kill", output);
  const input = join(suite.dir, "after-kill.in");
  const data = await randomFile(input, 100_000);
  const receiver = guest(suite.paths, ["recv", "-q", "--channel", "after-kill", "--out", output]);
  const sender = guest(suite.paths, ["send", "-q", input, "--channel", "after-kill"]);
  // The receiver first: refused, it would leave its sender waiting for a receiver.
  expect([await receiver.exit(), await receiver.stderr]).toEqual([0, ""]);
  expect(await sender.exit()).toBe(0);
  expect(sameBytes(new Uint8Array(readFileSync(output)), data)).toBe(true);
  expect(existsSync(`${output}.partial`)).toBe(false);
});

test("a FILE.partial that holds bytes, or an existing FILE, is still refused without --force", async () => {
  const output = join(suite.dir, "kept.out");
  writeFileSync(`${output}.partial`, "bytes an earlier receive got");
  const refused = guest(suite.paths, ["recv", "--channel", "kept", "--out", output]);
  expect(await refused.exit()).toBe(1);
  expect(await refused.stderr).toContain(
    "kept.out.partial exists: an earlier receive that did not finish left it",
  );
  expect(readFileSync(`${output}.partial`, "utf8")).toBe("bytes an earlier receive got");

  const existing = join(suite.dir, "existing.out");
  writeFileSync(existing, "the user's file");
  writeFileSync(`${existing}.partial`, "");
  const again = guest(suite.paths, ["recv", "--channel", "existing", "--out", existing]);
  expect(await again.exit()).toBe(1);
  expect(await again.stderr).toContain("the file already exists (pass --force");
  expect(readFileSync(existing, "utf8")).toBe("the user's file");
});

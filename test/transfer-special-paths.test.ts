/** Transfers through names that are not plain files: /dev/stdout and its kin, FIFOs. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { lstatSync, readFileSync, writeFileSync } from "node:fs";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";
import { clientEnv, guest, outPath, randomFile, sameBytes } from "./helpers/transfer.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("xspecial");
  arbiter = await ArbiterProcess.start(paths, { size: "64MiB", lease: "2s" });
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

/** `ivsh guest recv ARGS` with its stdout redirected to `stdoutFile`, as `recv ... > FILE` in a shell. */
function receiverInto(stdoutFile: string, args: string[]) {
  writeFileSync(stdoutFile, ""); // the shell's `>` made it: it exists, empty
  const proc = Bun.spawn([process.execPath, CLI, "guest", "recv", ...args], {
    stdin: "ignore",
    stdout: Bun.file(stdoutFile),
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1", ...clientEnv(paths) },
  });
  return { proc, stderr: new Response(proc.stderr).text() };
}

describe("--out naming an open descriptor (/dev/stdout, /dev/fd/N, /proc/self/fd/N)", () => {
  for (const name of ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"])
    test(`recv --out ${name} > FILE writes FILE, leaves ${name} alone, and puts --json on stderr`, async () => {
      const channel = `descriptor-${name.replaceAll("/", "-")}`;
      const input = outPath(paths, `${channel}.in`);
      const redirected = outPath(paths, `${channel}.redirected`);
      const data = await randomFile(input, 3 << 20);
      const linkBefore = lstatSync(name).isSymbolicLink();
      const receiver = receiverInto(redirected, ["--channel", channel, "--out", name, "--json"]);
      const sender = guest(paths, ["send", "-q", "--channel", channel, input]);
      const received = await receiver.proc.exited;
      if (received !== 0) sender.proc.kill(); // it would wait for a receiver for ever
      const sent = await sender.exit();
      const stderr = await receiver.stderr;
      expect({ sent, received, stderr: received === 0 ? "" : stderr }).toEqual({
        sent: 0,
        received: 0,
        stderr: "",
      });
      // The data, and only the data, went where stdout points; the summary to stderr.
      expect(sameBytes(readFileSync(redirected), data)).toBe(true);
      expect(JSON.parse(stderr.trim().split("\n").at(-1) ?? "")).toMatchObject({ verified: true });
      expect(lstatSync(name).isSymbolicLink()).toBe(linkBefore);
      expect(await Bun.file(`${name}.partial`).exists()).toBe(false);
    });

  test("recv --out /dev/fd/N of a descriptor that is not open is refused, naming it", async () => {
    const args = ["--channel", "closed-fd", "--out", "/dev/fd/9", "--timeout", "1s"];
    const receiver = guest(paths, ["recv", ...args]);
    expect(await receiver.exit()).toBe(1);
    expect(await receiver.stderr).toContain("descriptor 9, which is not open");
  });
});

/** Transfers at the edges: files planted where the receiver writes, directories removed, frozen ends. */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { lstatSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";
import { guest, outPath, randomFile, sameBytes } from "./helpers/transfer.ts";

const LEASE_MS = 2000;
let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("xedge");
  arbiter = await ArbiterProcess.start(paths, { size: "64MiB", lease: `${LEASE_MS}ms` });
});
beforeEach(() => arbiter.revive());
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

describe("transfer edges", () => {
  test("recv --force replaces a symlink planted at FILE.partial instead of writing through it", async () => {
    const precious = outPath(paths, "precious");
    writeFileSync(precious, "precious\n");
    const output = outPath(paths, "planted.out");
    symlinkSync(precious, `${output}.partial`);
    const data = await randomFile(outPath(paths, "planted.in"), 256 << 10);
    const receiver = guest(paths, ["recv", "--channel", "planted", "--out", output, "--force"]);
    const sender = guest(paths, ["send", "-q", "--channel", "planted", outPath(paths, "planted.in")]);
    expect([await sender.exit(), await receiver.exit()]).toEqual([0, 0]);
    expect(readFileSync(precious, "utf8")).toBe("precious\n");
    expect(lstatSync(output).isSymbolicLink()).toBe(false);
    expect(sameBytes(readFileSync(output), data)).toBe(true);
  });

  test("recv without --force refuses a symlink at FILE.partial, even one that points nowhere", async () => {
    const output = outPath(paths, "dangling.out");
    const nowhere = outPath(paths, "nowhere");
    symlinkSync(nowhere, `${output}.partial`);
    const receiver = guest(paths, ["recv", "--channel", "dangling", "--out", output, "--timeout", "1s"]);
    expect(await receiver.exit()).toBe(1);
    expect(await receiver.stderr).toContain(`${output}.partial exists`);
    expect(await Bun.file(nowhere).exists()).toBe(false);
  });
});

/**
 * `ivsh host` without --size on an existing region file takes the file's size (src/commands/host.ts): a
 * --block-size that size cannot take is refused as such, not as a file "no ivsh region is that size",
 * which 1 MiB is (in smaller blocks).
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, truncateSync, writeFileSync } from "node:fs";
import { testPaths } from "./helpers/paths.ts";
import { runCli } from "./helpers/processes.ts";

const paths = testPaths("host-file-size-blocks");
afterAll(() => paths.cleanup());

test("an existing 1 MiB region file with --block-size 2MiB: the block size is refused, not the file's size", async () => {
  writeFileSync(paths.region, "", { mode: 0o600 });
  truncateSync(paths.region, 1 << 20);
  const where = ["--region", paths.region, "--socket", paths.socket, "--state", paths.state];
  const { exitCode, stderr } = await runCli(["host", ...where, "--block-size", "2MiB"]);
  expect(exitCode).toBe(2);
  expect(stderr).not.toContain("no ivsh region is that size");
  expect(stderr).toContain(
    "leaving no room for one 2097152-byte block (--size 4MiB or more fits one, or a --block-size of at most",
  );
  expect(existsSync(paths.state)).toBe(false);
}, 60_000);

/**
 * `ivsh host` without --size on an empty region file (one an operator made for its owner and mode, /dev/shm
 * emptied by a reboot) and no state: the file's size of 0 is no size to take (src/commands/host.ts
 * existingSize), so the region is the default's, formatted, not refused as "an existing 0-byte file".
 */
import { afterAll, expect, test } from "bun:test";
import { statSync, writeFileSync } from "node:fs";
import { DEFAULT_REGION_SIZE } from "../src/defaults.ts";
import { parseSize } from "../src/units.ts";
import { startLines } from "./helpers/host-run.ts";
import { testPaths } from "./helpers/paths.ts";

const paths = testPaths("host-empty-region");
afterAll(() => paths.cleanup());

test("an empty region file without --size or state is served at the default size", async () => {
  writeFileSync(paths.region, "", { mode: 0o600 });
  const said = await startLines(
    ["--region", paths.region, "--socket", paths.socket, "--state", paths.state],
    paths.dir,
  );
  expect(said).toContain(`arbiter serving ${paths.region} (256.0 MiB,`);
  expect(statSync(paths.region).size).toBe(parseSize(DEFAULT_REGION_SIZE, "--size"));
}, 60_000);

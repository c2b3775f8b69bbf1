/**
 * `ivsh host` warns about a block size that leaves more than a sixteenth of the region unused (its tail,
 * src/commands/host.ts tailWarning); a tail of exactly a sixteenth is not warned about.
 */
import { afterAll, expect, test } from "bun:test";
import { computeGeometry, tailBytes } from "../src/region/layout.ts";
import { startLines } from "./helpers/host-run.ts";
import { testPaths } from "./helpers/paths.ts";

const paths = testPaths("host-tail-edge");
afterAll(() => paths.cleanup());

test("a tail of exactly a sixteenth of the region (1 MiB in 68 KiB blocks, 1 slot) is not warned about", async () => {
  expect(tailBytes(computeGeometry(1 << 20, 68 << 10, 1)) * 16).toBe(1 << 20);
  const where = ["--region", paths.region, "--socket", paths.socket, "--state", paths.state];
  const said = await startLines(
    [...where, "--size", "1MiB", "--block-size", "68KiB", "--slots", "1"],
    paths.dir,
  );
  expect(said).toContain("arbiter serving");
  expect(said).not.toContain("unused");
}, 60_000);

/**
 * `ivsh host --size=N` (a flag and its value in one word) is as given as `--size N` (src/commands/host.ts
 * givenFlags): a restart at another size than its region's is refused naming both, not served at the
 * recorded size with the flag silently dropped.
 */
import { afterAll, expect, test } from "bun:test";
import { testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, runCli } from "./helpers/processes.ts";

const paths = testPaths("host-flag-equals");
afterAll(() => paths.cleanup());

test("a restart with --size=2MiB over a state of 1 MiB is refused as --size 2MiB would be", async () => {
  const first = await ArbiterProcess.start(paths, { size: "1MiB" });
  await first.stop();
  const where = ["--region", paths.region, "--socket", paths.socket, "--state", paths.state];
  for (const size of [["--size=2MiB"], ["--size", "2MiB"]]) {
    const { exitCode, stderr } = await runCli([
      "host",
      ...where,
      "--block-size=64KiB",
      "--slots=64",
      ...size,
    ]);
    expect({ size, exitCode }).toEqual({ size, exitCode: 1 });
    expect(stderr).toContain("as a 2.00 MiB region since the file is already 1.00 MiB (pass --size 1MiB");
  }
}, 60_000);

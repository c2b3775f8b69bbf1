/**
 * What `npm pack` says and ships. `npm pack --json` is how release tooling learns the tarball's name and
 * files (`npm pack --json | jq -r '.[0].filename'`): the prepack (scripts/types.mjs) printed its
 * "ivsh: wrote types/" line on stdout, ahead of npm's JSON, so the output did not parse.
 */
import { expect, test } from "bun:test";
import { INSTALL_MS, packCheckout } from "./helpers/npm-project.ts";

test(
  "npm pack --dry-run --json prints JSON alone on stdout, naming the files the package needs and no tests",
  async () => {
    // npm runs the package's prepack with node_modules/.bin on its PATH.
    const packed = await packCheckout(["--dry-run", "--json"]);
    expect(packed.exitCode, packed.output).toBe(0);
    const [report] = JSON.parse(packed.stdout) as [{ filename: string; files: { path: string }[] }];
    expect(report.filename).toMatch(/^ivsh-.*\.tgz$/);
    const files = report.files.map((file) => file.path);
    for (const needed of ["bin/ivsh.mjs", "lib/needs-bun.mjs", "src/cli.ts", "types/guest/index.d.ts"])
      expect(files).toContain(needed);
    expect(files.filter((path) => path.startsWith("test/") || path.startsWith("build/"))).toEqual([]);
  },
  INSTALL_MS,
);

/**
 * MappedRegion.close() gives its entry in the native fault guard's table back (mutation round 20,
 * src/region/mapping.ts): the table holds 64 regions, so a process that mapped and closed more than that
 * (an arbiter restarted in-process, a tool opening regions one after another) had its next region
 * unguarded, and a fault in it was "Bun has crashed" again instead of the explanation (or, mapped where a
 * closed one was, explained as that one's). Its own process: the touch ends it.
 */
import { afterAll, expect } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { nativeFaultGuard, nativeStatus } from "../src/ffi/native.ts";
import { REPO, testPaths } from "./helpers/paths.ts";
import { testUnless } from "./helpers/tools.ts";

const paths = testPaths("region-guard-released");
afterAll(() => paths.cleanup());

const noGuard = nativeFaultGuard()
  ? undefined
  : `the native helper that explains such faults is not loaded here (${nativeStatus().detail})`;

testUnless(
  noGuard,
  "after 80 regions mapped and closed, a fault in the next one is explained, naming it",
  async () => {
    const region = join(paths.shmDir, "region");
    const other = join(paths.shmDir, "other");
    writeFileSync(region, new Uint8Array(8192));
    writeFileSync(other, new Uint8Array(8192));
    const script = join(paths.dir, "cycle.ts");
    writeFileSync(
      script,
      `import { truncateSync } from "node:fs";\n` +
        `import { mapRegionFile } from ${JSON.stringify(join(REPO, "src/region/mapping.ts"))};\n` +
        "const [path, other] = process.argv.slice(2);\n" +
        "for (let cycle = 0; cycle < 80; cycle++) mapRegionFile(other).close();\n" +
        "const mapped = mapRegionFile(path);\n" +
        "truncateSync(path, 0);\n" +
        'console.log("touching");\n' +
        "mapped.bytes(4096, 1)[0] = 1;\n" +
        'console.log("touched");\n',
    );
    const child = Bun.spawn([process.execPath, script, region, other], { stdout: "pipe", stderr: "pipe" });
    const [stdout, stderr] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
    ]);
    await child.exited;
    expect(stdout).toBe("touching\n");
    expect(child.signalCode).toBe("SIGBUS");
    expect(stderr).toContain(`of the region ${region} (its file was truncated while in use`);
    expect(stderr).not.toContain("Bun has crashed");
  },
);

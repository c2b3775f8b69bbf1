/**
 * A guest's mapping verdict is kept for the boot (src/guest/probe-cache.ts), and root's is trusted by every
 * user. Root may open both of the device's resource files; a user given only resource2 (chmod, or a udev
 * rule for that file) may not open resource2_wc: a verdict of root's choosing resource2_wc sent that
 * user's every command to a file it cannot open, where measuring would have chosen resource2, which works.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type MappingProbe, probeDevice } from "../src/guest/probe.ts";
import { readCachedProbe, writeCachedProbe } from "../src/guest/probe-cache.ts";
import { LAYOUT_MAGIC } from "../src/region/layout.ts";
import { notRoot, runAsNobody } from "./helpers/as-nobody.ts";
import { FAKE_PCI_ADDRESS } from "./helpers/backends.ts";
import { REPO } from "./helpers/paths.ts";
import { testUnless, toolMissing } from "./helpers/tools.ts";

const reason = notRoot ?? toolMissing("setpriv");
let dir: string;

beforeAll(() => {
  dir = mkdtempSync("/dev/shm/ivsh-probe-access-");
  chmodSync(dir, 0o755);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A BAR file holding an ivsh magic (the probe measures only a formatted region), of `mode`. */
function barFile(name: string, mode: number): string {
  const path = join(dir, name);
  const bytes = new Uint8Array(1 << 20);
  new DataView(bytes.buffer).setUint32(0, LAYOUT_MAGIC, true);
  writeFileSync(path, bytes);
  chmodSync(path, mode);
  return path;
}

testUnless(reason, "root's verdict naming a resource file this user may not open is not reused", () => {
  const device = {
    address: FAKE_PCI_ADDRESS,
    resource2: barFile("resource2", 0o666), // opened to this user
    resource2Wc: barFile("resource2_wc", 0o600), // root's alone, as the kernel makes it
    size: 1 << 20,
  };
  const cache = join(dir, "cache");
  mkdirSync(cache, { mode: 0o1777 });
  chmodSync(cache, 0o1777);
  // Root's verdict, choosing resource2_wc (as it does where write-combining is faster).
  const measured = probeDevice(device, cache)!;
  const wc = measured.measured.find((speed) => speed.resource === "resource2_wc")!;
  writeCachedProbe(cache, device, { ...measured, chosen: wc });
  expect(readCachedProbe<MappingProbe>(cache, device)?.chosen.resource).toBe("resource2_wc");
  const script = join(dir, "probe-child.ts");
  writeFileSync(
    script,
    `import { probeDevice } from ${JSON.stringify(join(REPO, "src/guest/probe.ts"))};\n` +
      "const probe = probeDevice(JSON.parse(process.argv[2]), process.argv[3]);\n" +
      "console.log(JSON.stringify({ reused: probe.reused, chosen: probe.chosen.resource }));\n",
  );
  const said = runAsNobody(script, [JSON.stringify(device), cache]);
  expect(JSON.parse(said)).toEqual({ reused: false, chosen: "resource2" });
});

testUnless(
  reason,
  "root's verdict is reused by another user choosing a file it may open, not one it may only read",
  () => {
    const script = join(dir, "read-child.ts");
    writeFileSync(
      script,
      `import { readCachedProbe } from ${JSON.stringify(join(REPO, "src/guest/probe-cache.ts"))};\n` +
        "const probe = readCachedProbe(process.argv[3], JSON.parse(process.argv[2]));\n" +
        "console.log(JSON.stringify({ reused: probe?.reused ?? false }));\n",
    );
    const readBy = (mode: number, name: string) => {
      const device = {
        address: FAKE_PCI_ADDRESS,
        resource2: barFile(`${name}-resource2`, mode),
        resource2Wc: undefined,
        size: 1 << 20,
      };
      const cache = join(dir, `${name}-cache`);
      mkdirSync(cache, { mode: 0o1777 });
      chmodSync(cache, 0o1777);
      writeCachedProbe(cache, device, probeDevice(device, cache)!);
      return JSON.parse(runAsNobody(script, [JSON.stringify(device), cache])).reused;
    };
    // Before (only this user's own verdict trusted): false; root's is trusted by all.
    expect(readBy(0o666, "shared")).toBe(true);
    // Before (read access enough): true, though the mapping needs to write it too.
    expect(readBy(0o644, "read-only")).toBe(false);
  },
);

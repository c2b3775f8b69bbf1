/**
 * A guest's `resource` option decides which BAR 2 mapping is used, and no probe is made then (mutation
 * round 20, src/guest/connect-options.ts): resolveConnection maps the named file, mappingProbe measures
 * nothing. A device formatted by an arbiter (its magic written) is probed when nothing is named.
 */
import { afterAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { mappingProbe, resolveConnection } from "../src/guest/connect-options.ts";
import { Header, LAYOUT_MAGIC } from "../src/region/layout.ts";
import { fakeSysfs } from "./helpers/backends.ts";
import { testPaths } from "./helpers/paths.ts";

const paths = testPaths("device-resource-choice");
afterAll(() => paths.cleanup());

/** A device whose file holds an ivsh header's magic: what the probe needs to measure its scratch area. */
function formattedDevice(label: string): string {
  const file = join(paths.shmDir, label);
  const bytes = new Uint8Array(1 << 20);
  new DataView(bytes.buffer).setUint32(Header.magic, LAYOUT_MAGIC, true);
  writeFileSync(file, bytes);
  return fakeSysfs(join(paths.dir, `${label}-sysfs`), file);
}

test("the resource named is the file mapped: resource2 or resource2_wc", () => {
  const sysfsRoot = formattedDevice("mapped");
  for (const resource of ["resource2", "resource2_wc"] as const) {
    const { region } = resolveConnection({ sysfsRoot, resource });
    try {
      expect(region.source).toEndWith(`/${resource}`);
    } finally {
      region.close();
    }
  }
});

test("a resource named means no probe; none named, the formatted device is measured", () => {
  const sysfsRoot = formattedDevice("probed");
  for (const resource of ["resource2", "resource2_wc"] as const)
    expect(mappingProbe({ sysfsRoot, resource })).toBeUndefined();
  expect(mappingProbe({ sysfsRoot })?.measured.map((speed) => speed.resource)).toEqual([
    "resource2",
    "resource2_wc",
  ]);
});

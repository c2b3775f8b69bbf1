/**
 * A receiver's sink (src/transfer/sink.ts) on its own, without a transfer: what `keep` and `unkeep` leave
 * under FILE, and which descriptors --out may name.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addressOf } from "../src/ffi/index.ts";
import { Sink } from "../src/transfer/sink.ts";

const dir = mkdtempSync(join(tmpdir(), "ivsh-sink-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("--force, kept, then unkept (the verdict could not be told): FILE holds the file it replaced again", async () => {
  const target = join(dir, "replaced");
  writeFileSync(target, "the old file");
  const sink = Sink.open(target, { force: true });
  const data = new TextEncoder().encode("the new copy");
  await sink.write(addressOf(data), data.byteLength);
  sink.keep();
  expect(readFileSync(target, "utf8")).toBe("the new copy");
  sink.unkeep();
  expect(readFileSync(target, "utf8")).toBe("the old file");
  expect(readFileSync(`${target}.partial`, "utf8")).toBe("the new copy");
});

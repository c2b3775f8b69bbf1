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
import { REPO } from "./helpers/paths.ts";

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

test("--out /dev/fd/2 with stderr closed at start is refused: the stream would go to the runtime's /dev/null", async () => {
  const sink = JSON.stringify(join(REPO, "src/transfer/sink.ts"));
  const script = `import { Sink } from ${sink};\ntry { Sink.open("/dev/fd/2"); console.log("opened"); } catch (error) { console.log(error.message); }`;
  // As the launcher tells ivsh (IVSH_CLOSED_AT_START), so that stdout stays open to report on.
  const child = Bun.spawn([process.execPath, "-e", script], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, IVSH_CLOSED_AT_START: "2" },
  });
  const [said] = await Promise.all([new Response(child.stdout).text(), child.exited]);
  expect(said).toContain(
    "Failed to write /dev/fd/2 since it names descriptor 2, which was closed when ivsh started",
  );
});

/**
 * Naming the process behind a lock or a listening socket (src/holders.ts) for "another arbiter (pid N,
 * COMMAND) is serving it": where /proc names nobody, the message goes without a pid, never "(pid NaN)".
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { lockHolder, socketListener } from "../src/holders.ts";

const dir = mkdtempSync(join(tmpdir(), "ivsh-holders-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("a file nobody locks and a socket path nobody listens on name no holder: empty, not '(pid NaN)'", () => {
  const file = join(dir, "unlocked");
  writeFileSync(file, "");
  expect(lockHolder(file)).toBe("");
  expect(socketListener(join(dir, "nobody.sock"))).toBe("");
});

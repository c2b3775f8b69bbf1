/**
 * Before an EOF from a pipe ends a stream, letSignalsLand (src/transfer/signals.ts) waits while the kernel
 * holds an interrupting signal (SIGHUP, SIGINT, SIGTERM) that its listener has not had yet.
 * test/transfer-faults.test.ts races a real Ctrl-C against the EOF, which rarely finds the signal still
 * pending when it looks, and a signal cannot be kept pending in Bun (its event loop's wait lets blocked
 * signals land). test/fixtures/mocked/signals-pending.ts says what /proc/self/status reads instead, in a
 * `bun test` process of its own (its mock of node:fs would outlive it here).
 */
import { expect, test } from "bun:test";
import { runMockedTests } from "./helpers/mocked.ts";

test("the wait sleeps while SigPnd or ShdPnd shows SIGHUP, SIGINT or SIGTERM, and for nothing else", async () => {
  const said = await runMockedTests("signals-pending");
  expect(said).toMatch(/ 10 pass\n 0 fail\n/);
}, 120_000);

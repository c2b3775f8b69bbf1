/**
 * What `ivsh demo` prints from its measurements, on fixed inputs: each method's median time and its rate in
 * decimal GB/s, and the ratio the right way round (ivsh's rate over the socket's, so above 1 when ivsh is
 * faster). test/demo.test.ts runs the demo, whose timings cannot be pinned down.
 */
import { expect, test } from "bun:test";
import { demoSummary } from "../src/commands/demo.ts";

const GB = 1e9;

test("medians, decimal GB/s and the ratio of the rates, from seconds given in any order", () => {
  const summary = demoSummary(GB, {
    ivsh: { method: "ivsh", bytes: GB, seconds: [1, 0.25, 0.5], digest: "xxh3:0123456789abcdef" },
    socket: { method: "unix socket", bytes: GB, seconds: [3, 2, 1.5] },
  });
  expect(summary).toContain("3 rounds (median):");
  expect(summary).toContain("ivsh            2.00 GB/s   (0.500 s, digest xxh3:0123456789abcdef verified)");
  expect(summary).toContain("unix socket     0.50 GB/s   (2.000 s)");
  expect(summary).toContain("ivsh is 4.0x the Unix socket's rate");
});

test("of two rounds the later-sorted is shown; one round is not called a median", () => {
  const two = demoSummary(GB, {
    ivsh: { method: "ivsh", bytes: GB, seconds: [0.5, 0.4] },
    socket: { method: "unix socket", bytes: GB, seconds: [1, 1] },
  });
  expect(two).toContain("(0.500 s,");
  const one = demoSummary(GB, {
    ivsh: { method: "ivsh", bytes: GB, seconds: [0.5] },
    socket: { method: "unix socket", bytes: GB, seconds: [1] },
  });
  expect(one).toContain("1 round:");
  expect(one).toContain("ivsh is 2.0x");
});

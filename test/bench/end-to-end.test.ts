/** The end-to-end rows' samples start empty, each with the bytes its method moves: the 1 KiB rows 1 KiB. */
import { expect, test } from "bun:test";
import { emptyEndToEndSamples } from "../../src/bench/end-to-end.ts";

test("every method has a row; the 1 KiB ones count 1024 bytes, the rest the run's size", () => {
  const bytes = 5 << 20;
  const samples = emptyEndToEndSamples(bytes);
  expect(Object.keys(samples).sort()).toEqual(
    [
      "cat-socat-null",
      "dd",
      "ivsh-file",
      "ivsh-null",
      "ivsh-small",
      "socat-file",
      "socat-null",
      "socat-small",
    ].sort(),
  );
  for (const [method, row] of Object.entries(samples)) {
    expect({ method, bytes: row.bytes }).toEqual({ method, bytes: method.endsWith("small") ? 1024 : bytes });
    expect(row.seconds).toEqual([]);
    expect(row.label.length).toBeGreaterThan(0);
  }
});

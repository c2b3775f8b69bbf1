/**
 * fig2-reader waits for the writer's area while no segment of its name exists (the reader may start
 * first), and only then: an area it is refused (another client holds it write-exclusive, so it may not
 * open it to write) ends the reader at once, saying why, instead of asking again for ever.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { connect } from "../src/guest/index.ts";
import { REPO } from "./helpers/paths.ts";
import { spawnBun } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("examples-area-refused");

test("a reader refused the area (held write-exclusive by another client) ends, naming the refusal", async () => {
  const holder = await connect({ socket: suite.socket, region: suite.region, name: "holder" });
  try {
    await holder.alloc(4097, { name: "fig1", mode: "write-exclusive" });
    const output = join(suite.dir, "output");
    const where = ["--socket", suite.socket, "--region", suite.region, "--size", "4097"];
    const reader = spawnBun([join(REPO, "examples/fig2-reader.ts"), output, "100", ...where]);
    expect(await reader.exit(30_000)).not.toBe(0);
    expect(await reader.stderr).toContain("another client holds it write-exclusive");
  } finally {
    await holder.close();
  }
}, 60_000);

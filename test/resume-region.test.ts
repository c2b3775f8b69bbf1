/**
 * A client resumes its session after an arbiter restart only if the restarted arbiter serves the memory
 * the client has mapped: a region file replaced while the arbiter was down (same path, same size, another
 * file) leaves the client's mapping on the old, unlinked file, where nobody else would see its writes.
 */
import { afterAll, expect, test } from "bun:test";
import { closeSync, ftruncateSync, openSync, rmSync, statSync } from "node:fs";
import { connect } from "../src/guest/index.ts";
import { fetchStatus } from "../src/guest/inspect.ts";
import { testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, eventually, livenessBoundMs } from "./helpers/processes.ts";

const paths = testPaths("resume-region");
afterAll(() => paths.cleanup());

test("the region file replaced while the arbiter was down: the resumed client fails (RegionInvalid), no split brain", async () => {
  const arbiter = await ArbiterProcess.start(paths, { lease: "2s" });
  const options = { socket: paths.socket, region: paths.region, reconnectTimeoutMs: 20_000 };
  const first = await connect(options);
  try {
    const segment = await first.alloc(4096, { name: "kept" });
    segment.bytes.fill(7);

    await arbiter.kill9();
    // Another file of the same size at the same path: the state still matches it, so the arbiter resumes.
    const size = statSync(paths.region).size;
    rmSync(paths.region);
    const fd = openSync(paths.region, "w", 0o600);
    ftruncateSync(fd, size);
    closeSync(fd);
    await arbiter.restart();

    await eventually(
      async () => first.reconnects > 0 || first.lost !== undefined,
      livenessBoundMs(2000),
      "the client's reconnection",
    );
    // Before, it resumed: its writes went to the unlinked file while a second client read the new one.
    expect(first.reconnects).toBe(0);
    expect(first.lost?.code).toBe("RegionInvalid");
    expect(first.lost?.message).toContain(paths.region);
    expect(() => segment.bytes).toThrow(/not the one this client mapped/);
    // And the session it could not use is ended, not left holding the segment.
    await eventually(
      async () => {
        const { clients } = (await fetchStatus({ unix: paths.socket })).report;
        return clients.every((client) => client.clientId !== first.clientId);
      },
      livenessBoundMs(2000),
      "the session's end",
    );
  } finally {
    await first.close();
    await arbiter.stop();
  }
}, 60_000);

/**
 * A sender whose default ring finds no room halves its chunks and asks again (src/transfer/ring-setup.ts,
 * allocateRing), up to 8 times. Found by a trial: the arbiter logged every one of those asks as a refusal
 * at info, 7 lines for one send that then worked. The first says it; the smaller asks that follow from the
 * same session are debug. A program asking again for as much (not a smaller retry) is logged again.
 */
import { afterAll, expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, runCli } from "./helpers/processes.ts";

const paths = testPaths("lo32-oplog-shrink");
afterAll(() => paths.cleanup());

test("a ring halved to fit a quota is one refusal at info, its smaller retries at debug", async () => {
  const arbiter = await ArbiterProcess.start(paths, { extra: ["--client-quota", "128KiB", "-v"] });
  const file = `${paths.dir}/one-mib`;
  await Bun.write(file, new Uint8Array(1 << 20).fill(7));
  const where = ["--socket", paths.socket, "--region", paths.region, "--channel", "shrink"];
  const [received, sent] = await Promise.all([
    runCli(["guest", "recv", "--out", `${paths.dir}/copy`, ...where]),
    runCli(["guest", "send", file, ...where]),
  ]);
  expect([received.exitCode, sent.exitCode], sent.stderr).toEqual([0, 0]);
  expect(sent.stderr).toContain("the client's quota had no room for more");
  // The same ask twice: a program retrying, not a ring shrinking; each is said.
  const client = await connect({ socket: paths.socket, region: paths.region, name: "asks-twice" });
  for (let ask = 0; ask < 2; ask++) await client.alloc(1 << 20).catch(() => undefined);
  await client.close();
  await arbiter.stop();
  const lines = (await arbiter.spawned.stderr).split("\n");
  const refusals = (level: string, who: RegExp) =>
    lines.filter(
      (line) => line.includes(`${level} client #`) && who.test(line) && line.includes("alloc refused"),
    );
  const sender = /segment 'channel:shrink:/;
  expect(refusals("ℹ", sender)).toHaveLength(1);
  expect(refusals("debug", sender).length).toBeGreaterThanOrEqual(2);
  expect(refusals("ℹ", /allocate a segment /)).toHaveLength(2);
}, 60_000);

// Found in review: a smaller ask refused for another reason (the whole region too small at first, then the
// region full, another client holding it) was hidden at debug, and the operator saw only the first reason,
// not the region full that made the send fail.
test("a smaller ask refused for another reason is said at info; for the same reason, at debug", async () => {
  const other = testPaths("revlo-oplog-reason");
  try {
    const arbiter = await ArbiterProcess.start(other, { size: "4MiB", blockSize: "64KiB", extra: ["-v"] });
    const where = { socket: other.socket, region: other.region };
    const filler = await connect({ ...where, name: "filler" });
    await filler.alloc(7 << 19); // 3.5 MiB: 7 of its 63 blocks left
    const asker = await connect({ ...where, name: "asker" });
    for (const bytes of [4 << 20, 1 << 20, 512 << 10]) await asker.alloc(bytes).catch(() => undefined);
    await asker.close();
    await filler.close();
    await arbiter.stop();
    const lines = (await arbiter.spawned.stderr).split("\n").filter((line) => line.includes("alloc refused"));
    const at = (level: string) => lines.filter((line) => line.includes(`${level} client #`));
    expect(at("ℹ").map((line) => /whole region|are free/.exec(line)?.[0])).toEqual([
      "whole region",
      "are free",
    ]);
    expect(at("debug")).toHaveLength(1);
    expect(at("debug")[0]).toContain("refused again, smaller");
  } finally {
    other.cleanup();
  }
}, 60_000);

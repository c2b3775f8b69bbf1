/** The report's access modes: the full matrix on the rules, then the same matrix through a live arbiter. */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { type Client, connect } from "../src/guest/index.ts";
import { heldAlready, modeConflict, modeCovers } from "../src/host/permissions.ts";
import type { AccessModeName } from "../src/protocol/messages.ts";
import { expectRejection } from "./helpers/errors.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";

const modes: AccessModeName[] = ["read", "write", "write-exclusive"];
// matrix[held][requested]: may a second client get `requested` while the first holds `held`?
const allowed: Record<AccessModeName, Record<AccessModeName, boolean>> = {
  read: { read: true, write: true, "write-exclusive": true },
  write: { read: true, write: true, "write-exclusive": false },
  "write-exclusive": { read: true, write: false, "write-exclusive": false },
};

describe("permission rules", () => {
  for (const held of modes)
    for (const requested of modes)
      test(`${requested} next to ${held}: ${allowed[held][requested] ? "granted" : "refused"}`, () => {
        expect(modeConflict(requested, [held]) === undefined).toBe(allowed[held][requested]);
      });

  test("a held grant covers the same mode and the weaker ones only", () => {
    for (const held of modes)
      for (const requested of modes)
        expect(modeCovers(held, requested)).toBe(modes.indexOf(held) >= modes.indexOf(requested));
  });

  test("a client that holds a segment alone is never told to free it and open it again (that deletes it)", () => {
    for (const held of modes)
      for (const requested of modes) {
        const [alone, shared] = [heldAlready(held, requested, true), heldAlready(held, requested, false)];
        expect(alone).not.toContain("free() that Segment and open it again");
        if (modeCovers(held, requested)) expect(alone).toBe(shared);
        else expect(alone).toContain(`holds it ${held}, and alone`);
      }
  });

  test("write-exclusive needs every other holder to be a reader", () => {
    expect(modeConflict("write-exclusive", ["read", "read"])).toBeUndefined();
    expect(modeConflict("write-exclusive", ["read", "write"])).toMatch(/holds it write/);
  });
});

describe("permissions through the arbiter", () => {
  let paths: TestPaths;
  let arbiter: ArbiterProcess;
  let first: Client;
  let second: Client;

  beforeAll(async () => {
    paths = testPaths("perm");
    arbiter = await ArbiterProcess.start(paths);
    first = await connect({ socket: paths.socket, region: paths.region, name: "first" });
    second = await connect({ socket: paths.socket, region: paths.region, name: "second" });
  });
  beforeEach(() => arbiter.revive());
  afterAll(async () => {
    await first?.close();
    await second?.close();
    await arbiter?.stop();
    paths?.cleanup();
  });

  for (const held of modes)
    for (const requested of modes)
      test(`second client asks ${requested} while the first holds ${held}`, async () => {
        const name = `m-${held}-${requested}`;
        const segment = await first.alloc(4096, { name, mode: held });
        if (allowed[held][requested]) {
          const attached = await second.open(name, requested);
          expect(attached.mode).toBe(requested);
          await attached.free();
        } else {
          await expectRejection(
            second.open(name, requested),
            "PermissionDenied",
            /Failed to open segment .* since another client holds it/,
          );
        }
        await segment.free();
      });

  test("asking another mode of a segment this client holds (read, then write) says to free it and open it again", async () => {
    const segment = await first.alloc(4096, { name: "upgrade" });
    const reader = await second.open("upgrade", "read");
    try {
      await expectRejection(
        second.open("upgrade", "write"),
        "InvalidArgument",
        /this client already holds it read \(a grant's mode does not change: free\(\) that Segment and open it again write/,
      );
      await reader.free();
      const writer = await second.open("upgrade", "write");
      expect(writer.mode).toBe("write");
      await writer.free();
    } finally {
      if (!reader.isFreed) await reader.free();
      await segment.free();
    }
  });

  test("asking more of a segment this client alone holds does not say to free it (that deletes it): another client keeps it", async () => {
    const segment = await first.alloc(4096, { name: "alone" });
    segment.bytes[0] = 5;
    const held = await second.open("alone", "write");
    await segment.free(); // the second client is its only holder now: its free() would delete it
    try {
      await expectRejection(
        second.open("alone", "write-exclusive"),
        "InvalidArgument",
        /holds it write, and alone \(a grant's mode does not change, and free\(\) would delete it, its last holder's: open it read with another client, connect\(\) again, to keep it, then free\(\) this one and open it again write-exclusive\)$/,
      );
      const keeper = await first.open("alone", "read"); // as told
      await held.free();
      const exclusive = await second.open("alone", "write-exclusive");
      expect(exclusive.bytes[0]).toBe(5); // the same segment, its data kept
      await exclusive.free();
      await keeper.free();
    } finally {
      if (!held.isFreed) await held.free();
    }
  });

  test("a refused open leaves the holder's grant untouched and nothing leaks", async () => {
    const segment = await first.alloc(4096, { name: "excl", mode: "write-exclusive" });
    await expectRejection(second.open("excl", "write"), "PermissionDenied", /write-exclusive/);
    segment.bytes[0] = 9;
    expect(segment.bytes[0]).toBe(9);
    await segment.free();
    const status = await first.status();
    expect(status.segments).toEqual([]);
    expect(status.blocks.free).toBe(status.blocks.total);
  });
});

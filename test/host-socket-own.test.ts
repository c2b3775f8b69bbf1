/**
 * An arbiter removes only socket files that are still its own. One whose socket was removed while it ran
 * (by hand, by a cleanup of /tmp) may find another arbiter serving that path by the time it stops: its stop
 * leaves that arbiter's socket and hand-over socket alone. Two arbiters started on one free path at the same
 * moment leave one of them serving with both its sockets; the other is refused and removes neither.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, rmSync } from "node:fs";
import { handoverPath } from "../src/host/handover.ts";
import { socketAnswers } from "../src/host/listener.ts";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, eventually, runCli, spawnBun } from "./helpers/processes.ts";

let made: TestPaths[] = [];
let arbiters: ArbiterProcess[] = [];

afterEach(async () => {
  for (const arbiter of arbiters) await arbiter.stop().catch(() => {});
  arbiters = [];
  for (const paths of made) paths.cleanup();
  made = [];
});

function madePaths(label: string): TestPaths {
  const paths = testPaths(label);
  made.push(paths);
  return paths;
}

async function started(paths: TestPaths): Promise<ArbiterProcess> {
  const arbiter = await ArbiterProcess.start(paths);
  arbiters.push(arbiter);
  return arbiter;
}

/** The region `socket`'s arbiter serves, as `ivsh status` tells it. */
async function servedRegion(socket: string): Promise<string> {
  const { exitCode, stdout, stderr } = await runCli(["status", "--socket", socket, "--json"]);
  expect({ exitCode, stderr }).toEqual({ exitCode: 0, stderr: "" });
  return JSON.parse(stdout).region.path;
}

const isSocket = (path: string) => lstatSync(path, { throwIfNoEntry: false })?.isSocket() ?? false;

/** `socket` and its hand-over socket are there, sockets, and the main one is served. */
async function expectServed(socket: string, context: Record<string, unknown> = {}): Promise<void> {
  expect({ socket: isSocket(socket), handover: isSocket(handoverPath(socket)), ...context }).toEqual({
    socket: true,
    handover: true,
    ...context,
  });
  expect(await socketAnswers(socket)).toBe(true);
}

describe("an arbiter removes only its own socket files", () => {
  test("a stopping arbiter whose socket was replaced leaves the new arbiter's sockets", async () => {
    const first = madePaths("own-first");
    const second = madePaths("own-second");
    const a = await started(first);
    // A's socket files removed while it runs; B starts on that path, with a region of its own.
    rmSync(first.socket);
    rmSync(handoverPath(first.socket));
    const b = await started({ ...second, socket: first.socket });
    expect(await servedRegion(first.socket)).toBe(second.region);
    await a.stop();
    expect(await a.spawned.stderr).not.toContain("Failed");
    await expectServed(first.socket);
    expect(await servedRegion(first.socket)).toBe(second.region);
    // B's own stop still removes both of its files.
    await b.stop();
    expect(existsSync(first.socket)).toBe(false);
    expect(existsSync(handoverPath(first.socket))).toBe(false);
  }, 60_000);

  test("two arbiters started at once on one path: one serves with both sockets, the other is refused (repeated)", async () => {
    for (let round = 0; round < 15; round++) {
      const one = madePaths("own-race-a");
      const other = madePaths("own-race-b");
      const socket = one.socket;
      const hosts = [one, { ...other, socket }].map((paths) =>
        spawnBun([
          CLI,
          "host",
          "--region",
          paths.region,
          "--socket",
          socket,
          "--state",
          paths.state,
          "--size",
          "1MiB",
        ]),
      );
      // The first to exit is the one refused (nothing else ends an arbiter here); the other serves.
      const loser = await Promise.race(
        hosts.map(async (host, index) => ({ index, code: await host.proc.exited })),
      );
      const winner = hosts[1 - loser.index]!;
      const said = await hosts[loser.index]!.stderr;
      try {
        expect(loser.code).toBe(1);
        // The refused start may end before the other listens: it is given the time a start takes.
        await eventually(() => socketAnswers(socket), 15_000, "the other arbiter listening");
        expect(winner.proc.exitCode).toBeNull();
        await expectServed(socket, { refused: said, round });
        expect(await servedRegion(socket)).toBe([one, other][1 - loser.index]!.region);
        // Refused as a start on a live arbiter's socket is, in the project's words.
        expect(said).toContain(`Failed to listen on ${socket}`);
        expect(said).toContain("choose another --socket");
      } finally {
        winner.proc.kill("SIGTERM");
        expect(await winner.exit()).toBe(0);
      }
      expect(existsSync(socket)).toBe(false);
      expect(existsSync(handoverPath(socket))).toBe(false);
    }
  }, 120_000);
});

/**
 * `ivsh host`'s start line names its socket and region as absolute paths, whatever the command line gave:
 * a user copies them into another shell or directory (a client's --socket), where a relative path leads
 * elsewhere. So do its refusals of the socket, and a bridge's errors.
 */
import { expect, test } from "bun:test";
import { existsSync, mkdirSync, symlinkSync } from "node:fs";
import { relative } from "node:path";
import { startLines } from "./helpers/host-run.ts";
import { CLI, testPaths } from "./helpers/paths.ts";
import { exitOrKill } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";

test("started with a relative --socket and --region, the serving line names both as absolute paths", async () => {
  const own = testPaths("serving-line");
  try {
    // Run in the region's directory: "region" and a "../.." path to the socket are relative to it.
    const socket = relative(own.shmDir, own.socket);
    expect(socket.startsWith("/")).toBe(false);
    const said = await startLines(
      ["--region", "region", "--socket", socket, "--state", own.state, "--size", "1MiB"],
      own.shmDir,
    );
    const line = said.split("\n").find((text) => text.includes("arbiter serving"));
    expect(line).toContain(`arbiter serving ${own.region} (`);
    expect(line).toContain(` on ${own.socket} with a `);
  } finally {
    own.cleanup();
  }
}, 60_000);

// Found by a second review: the socket was made absolute by path.resolve(), whose ".." is lexical: with
// --socket link/../arbiter.sock the arbiter bound the arbiter.sock beside link, where a client given the
// same --socket (the kernel: beside link's target) found none. So it made and served --region's file.
test("with a --socket and --region through a symlink's '..', the arbiter uses and names the files the kernel reads", async () => {
  const own = testPaths("serving-line-dotdot");
  try {
    for (const dir of [own.dir, own.shmDir]) {
      mkdirSync(`${dir}/elsewhere/inner`, { recursive: true });
      symlinkSync(`${dir}/elsewhere/inner`, `${dir}/link`);
    }
    const meant = { socket: `${own.dir}/elsewhere/arbiter.sock`, region: `${own.shmDir}/elsewhere/region` };
    const lexical = { socket: own.socket, region: own.region };
    let made: boolean[] = [];
    const said = await startLines(
      [
        "--region",
        `${own.shmDir}/link/../region`,
        "--socket",
        "link/../arbiter.sock",
        "--state",
        own.state,
        "--size",
        "1MiB",
      ],
      own.dir,
      undefined,
      () => {
        made = [meant.socket, meant.region, lexical.socket, lexical.region].map((path) => existsSync(path));
      },
    );
    expect(said).toContain(`arbiter serving ${meant.region} (`);
    expect(said).toContain(` on ${meant.socket} with a `);
    expect(made).toEqual([true, true, false, false]);
  } finally {
    own.cleanup();
  }
}, 60_000);

// Found by a review: only the serving line was absolute. A refusal of the socket, the hand-over socket's
// WARNs and a bridge's ERROR named a relative --socket as given, which leads elsewhere from another shell.
test("with a relative --socket, a refusal of it names its absolute path", async () => {
  const own = testPaths("serving-line-refused");
  try {
    const host = tracked(
      Bun.spawn(
        [
          process.execPath,
          CLI,
          "host",
          "--region",
          "region",
          "--socket",
          "missing/arbiter.sock",
          "--size",
          "1MiB",
        ],
        { cwd: own.shmDir, stdout: "ignore", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } },
      ),
    );
    const [exitCode, stderr] = await Promise.all([host.exited, new Response(host.stderr).text()]);
    expect(exitCode).not.toBe(0);
    expect(stderr).toContain(
      `Failed to listen on --socket ${own.shmDir}/missing/arbiter.sock since its directory ${own.shmDir}/missing does not exist`,
    );
  } finally {
    own.cleanup();
  }
}, 60_000);

test("a bridge given a relative --socket where no arbiter runs names the socket's absolute path", async () => {
  const own = testPaths("serving-line-bridge");
  try {
    const bridge = tracked(
      Bun.spawn([process.execPath, CLI, "bridge", "--vm", "relative-vm", "--socket", "arbiter.sock"], {
        cwd: own.dir,
        stdin: "pipe",
        stdout: "pipe",
        stderr: "pipe",
        env: { ...process.env, TMPDIR: own.dir, NO_COLOR: "1" },
      }),
    );
    void bridge.stdin.end();
    const stderr = new Response(bridge.stderr).text();
    await exitOrKill(bridge, 30_000);
    expect(await stderr).toContain(`found none on ${own.socket}`);
  } finally {
    own.cleanup();
  }
}, 60_000);

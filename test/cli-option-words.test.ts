/**
 * What `ivsh guest` prints names the flags, not the library's names of the options beside them: "pass
 * --socket, or connect({ socket })" read as two things to type, one of them no flag. The library's
 * messages keep them (errors.ts libraryForm); a command prints them without (forCommands). One command run
 * per message that named the library's form.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { UnixSocketListener } from "bun";
import { forCommands, libraryForm } from "../src/errors.ts";
import { connect } from "../src/guest/index.ts";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, spawnBun } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { testUnless } from "./helpers/tools.ts";
import { guest } from "./helpers/transfer.ts";

const suite = sharedArbiter("lo7-option-words");
let other: { paths: TestPaths; arbiter: ArbiterProcess; bigger: TestPaths; biggerArbiter: ArbiterProcess };
beforeAll(async () => {
  const paths = testPaths("lo7-option-words-other");
  const bigger = testPaths("lo7-option-words-bigger");
  other = {
    paths,
    arbiter: await ArbiterProcess.start(paths),
    bigger,
    biggerArbiter: await ArbiterProcess.start(bigger, { size: "32MiB" }),
  };
});
afterAll(async () => {
  await other?.arbiter.stop();
  await other?.biggerArbiter.stop();
  other?.paths.cleanup();
  other?.bigger.cleanup();
});

/** `ivsh guest send FILE --channel words ARGS` (IVSH_SOCKET and IVSH_REGION unset): its exit code and stderr. */
async function send(args: string[]): Promise<{ code: number; said: string }> {
  const file = join(suite.dir, "words.in");
  writeFileSync(file, "some bytes\n");
  const run = guest(suite.paths, ["send", file, "--channel", "words", "--timeout", "5s", ...args], {
    IVSH_SOCKET: "",
    IVSH_REGION: "",
  });
  const code = await run.exit();
  return { code, said: await run.stderr };
}

/** The command said `words`, and no library form. */
function expectFlagsOnly(run: { code: number; said: string }, words: string): void {
  expect(run.code).toBe(1);
  // Before: each of these ended in the library's form too ("..., or connect({ socket })").
  expect(run.said).toContain(words);
  expect(run.said).not.toContain("connect(");
  expect(run.said).not.toContain("in the library");
}

test("no arbiter at --socket", async () => {
  const socket = join(suite.dir, "nobody.sock");
  const run = await send(["--socket", socket, "--region", suite.region]);
  expectFlagsOnly(run, `(start it with \`ivsh host --socket ${socket}\`, or pass --socket)`);
});

test("--socket names a file that is not a socket", async () => {
  const file = join(suite.dir, "plain-file");
  writeFileSync(file, "");
  const run = await send(["--socket", file, "--region", suite.region]);
  expectFlagsOnly(run, "(pass the arbiter's socket as --socket or in IVSH_SOCKET)");
});

test("IVSH_SOCKET names a file that is not a socket: the advice names IVSH_SOCKET, where the path came from", async () => {
  const file = join(suite.dir, "plain-file-env");
  writeFileSync(file, "");
  const input = join(suite.dir, "words.in");
  writeFileSync(input, "some bytes\n");
  const run = guest(suite.paths, ["send", input, "--channel", "words", "--timeout", "5s"], {
    IVSH_SOCKET: file,
    IVSH_REGION: suite.region,
  });
  expect(await run.exit()).toBe(1);
  // Before: "(pass the arbiter's socket as --socket)", a flag this user never passed.
  expect(await run.stderr).toContain(
    `${file} since it is a file that is not a socket (ECONNREFUSED) (pass the arbiter's socket as --socket or in IVSH_SOCKET)`,
  );
});

test("--socket too long for a Unix socket", async () => {
  const run = await send(["--socket", join(suite.dir, "s".repeat(120)), "--region", suite.region]);
  expectFlagsOnly(run, "(no arbiter can listen there: pass a shorter --socket)");
});

test("ivsh status --socket where something that is no arbiter hangs up on the hello", async () => {
  const socket = join(suite.dir, "hangs-up.sock");
  const listener: UnixSocketListener<undefined> = Bun.listen({
    unix: socket,
    socket: { data: (peer) => void peer.end() },
  });
  try {
    const run = spawnBun([CLI, "status", "--socket", socket], { IVSH_SOCKET: "", IVSH_REGION: "" });
    expectFlagsOnly(
      { code: await run.exit(), said: await run.stderr },
      "what listens there is not an ivsh arbiter (check --socket); or the arbiter was stopping",
    );
  } finally {
    listener.stop(true);
  }
});

test("--connect where nothing listens (a guest's bridge)", async () => {
  const run = await send(["--connect", "127.0.0.1:48017", "--region", suite.region]);
  expectFlagsOnly(
    run,
    "on the host (scripts/qemu/launch.sh in ivsh's source repository adds it); or pass --connect)",
  );
});

test("--region names no file", async () => {
  const region = join(suite.dir, "no-region");
  const run = await send(["--socket", suite.socket, "--region", region]);
  expectFlagsOnly(
    run,
    `or start \`ivsh host --region ${region}\` to make it; in a VM attach -device ivshmem-plain)`,
  );
});

test("--region names a file too small for a region", async () => {
  const region = join(suite.dir, "tiny-region");
  writeFileSync(region, "tiny");
  const run = await send(["--socket", suite.socket, "--region", region]);
  expectFlagsOnly(run, "pass that as --region (IVSH_REGION)");
});

test("--region of another arbiter of the same size", async () => {
  const run = await send(["--socket", suite.socket, "--region", other.paths.region]);
  expectFlagsOnly(run, "(pass the --region and --socket of one arbiter; `ivsh status` shows its region)");
});

test("--region of another arbiter of another size", async () => {
  const run = await send(["--socket", suite.socket, "--region", other.bigger.region]);
  expectFlagsOnly(run, "pass the matching --region (`ivsh status` names it)");
  expect(run.said).toContain("is not the region that arbiter serves");
});

test("--region of another size holding no region", async () => {
  const region = join(suite.shmDir, "zeros");
  writeFileSync(region, "");
  truncateSync(region, 1 << 20);
  const run = await send(["--socket", suite.socket, "--region", region]);
  expectFlagsOnly(
    run,
    "-byte region that arbiter serves: pass the matching --region (`ivsh status` names it)",
  );
});

const defaultRegionThere = existsSync("/dev/shm/ivsh")
  ? "/dev/shm/ivsh exists here: a region is found"
  : undefined;

testUnless(defaultRegionThere, "no device and no region file", async () => {
  const run = await send(["--connect", "127.0.0.1:48017"]);
  expectFlagsOnly(run, "on the host, start `ivsh host` or pass --region PATH (or set IVSH_REGION");
});

testUnless(defaultRegionThere, "a --sysfs-root that is no sysfs", async () => {
  const root = join(suite.dir, "not-sysfs");
  mkdirSync(root, { recursive: true });
  const run = await send(["--connect", "127.0.0.1:48017", "--sysfs-root", root]);
  expectFlagsOnly(run, "so it is not where sysfs is mounted: pass /sys (--sysfs-root /sys, or leave it out)");
});

test("a device that is not the arbiter's region, beside one that may be", async () => {
  const blank = join(suite.shmDir, "blank");
  writeFileSync(blank, "");
  truncateSync(blank, 16 << 20);
  const root = join(suite.dir, "sysfs");
  [blank, suite.region].forEach((file, index) => {
    const device = join(root, "bus/pci/devices", `0000:00:0${4 + index}.0`);
    mkdirSync(device, { recursive: true });
    writeFileSync(join(device, "vendor"), "0x1af4\n");
    writeFileSync(join(device, "device"), "0x1110\n");
    symlinkSync(file, join(device, "resource2"));
  });
  const second = join(root, "bus/pci/devices/0000:00:05.0/resource2");
  const run = await send(["--socket", suite.socket, "--sysfs-root", root]);
  expectFlagsOnly(run, `pass --region ${second} --socket ${suite.socket} to use it. Otherwise`);
});

test("the library's own message keeps its name for the option; a command's leaves it out", async () => {
  const socket = join(suite.dir, "nobody-library.sock");
  const said = await connect({ socket, region: suite.region }).then(
    () => "connected",
    (error: Error) => error.message,
  );
  expect(said).toContain("or pass --socket, or connect({ socket })");
  expect(forCommands(said)).toContain("or pass --socket)");
});

test("a library form inside another is left out whole, whichever was made first", () => {
  // As " or connect({ region })" (connect-options.ts) lies in ", or connect({ region })" (mapping.ts): the
  // shorter, made first, was cut out of the longer and left its comma ("(IVSH_REGION,)").
  const shorter = libraryForm(" or rlo7({ inner })");
  const longer = libraryForm(", or rlo7({ inner })");
  expect(forCommands(`pass --region PATH${shorter} (or set IVSH_REGION)`)).toBe(
    "pass --region PATH (or set IVSH_REGION)",
  );
  expect(forCommands(`pass that as --region (IVSH_REGION${longer})`)).toBe(
    "pass that as --region (IVSH_REGION)",
  );
});

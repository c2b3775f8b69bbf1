/**
 * What a client says of a wake-up file it cannot park on (`Client.parking`, for its logs and bug reports):
 * something else put at `REGION.wake` after the arbiter made its file (a directory, a symbolic link, a
 * FIFO), or a mode narrowed so that this user may not open it. Before, it said only the system call's refusal ("arbiter only (Failed to open … (EISDIR))"), not
 * what was there nor what to do; test/wake-file-removed.test.ts has the file merely removed.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { chmodSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Client, connect } from "../src/guest/index.ts";
import { notRoot, runAsNobody } from "./helpers/as-nobody.ts";
import { REPO, type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig } from "./helpers/processes.ts";
import { testUnless, toolMissing } from "./helpers/tools.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
let wake: string;
const clients: Client[] = [];

beforeEach(async () => {
  paths = testPaths("wake-unusable");
  wake = `${paths.region}.wake`;
  arbiter = await ArbiterProcess.start(paths, { lease: "1s" });
  rmSync(wake);
});
afterEach(async () => {
  for (const client of clients.splice(0)) await client.close();
  await arbiter?.stop();
  paths?.cleanup();
});

async function parkingWith(putThere: () => void): Promise<string> {
  putThere();
  const client = await connect({ ...clientConfig(paths), name: "parker" });
  clients.push(client);
  return client.parking;
}

const remedy =
  "remove it, then `ivsh status` says whether the arbiter made its file there again or must be restarted";

test("a directory at REGION.wake is named as such, and what to do", async () => {
  const parking = await parkingWith(() => mkdirSync(wake));
  expect(parking).toStartWith(
    `arbiter only (${wake} is a directory, not the arbiter's wake-up file: ${remedy}`,
  );
}, 60_000);

test("a symbolic link at REGION.wake is named as such, and what to do", async () => {
  const parking = await parkingWith(() => symlinkSync("/dev/null", wake));
  expect(parking).toStartWith(
    `arbiter only (${wake} is a symbolic link, not the arbiter's wake-up file: ${remedy}`,
  );
}, 60_000);

test("a FIFO at REGION.wake is named as such, and what to do", async () => {
  const parking = await parkingWith(() => Bun.spawnSync(["mkfifo", wake]));
  expect(parking).toStartWith(`arbiter only (${wake} is a FIFO, not the arbiter's wake-up file: ${remedy}`);
}, 60_000);

testUnless(
  notRoot ?? toolMissing("setpriv"),
  "a wake-up file this user may not open says so, and the mode the arbiter gives it",
  async () => {
    writeFileSync(wake, new Uint8Array(4096), { mode: 0o600 }); // an operator's chmod 600, root's file
    for (const dir of [paths.dir, paths.shmDir]) chmodSync(dir, 0o755);
    for (const file of [paths.region, paths.socket]) chmodSync(file, 0o666);
    const script = join(paths.shmDir, "parking.ts");
    writeFileSync(
      script,
      `import { connect } from ${JSON.stringify(join(REPO, "src/guest/index.ts"))};\n` +
        "const client = await connect({ socket: process.argv[2], region: process.argv[3], name: 'nobody' });\n" +
        "console.log(client.parking);\nawait client.close();\n",
      { mode: 0o644 },
    );
    const parking = runAsNobody(script, [paths.socket, paths.region]).trim();
    expect(parking).toBe(
      `arbiter only (this user may not open ${wake} to read and write it (EACCES), which the arbiter makes so ` +
        `for every user: give it that mode back (chmod a+rw ${wake}))`,
    );
  },
  60_000,
);

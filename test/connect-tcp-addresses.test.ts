/**
 * A guest's --connect HOST:PORT whose name has several addresses (localhost: ::1 and 127.0.0.1, the
 * order most systems' /etc/hosts and getaddrinfo give) reaching an arbiter that answers on only one of
 * them (a guestfwd or listener on 127.0.0.1). Bun.connect tried each address in turn; the guest's own
 * non-blocking connect (src/guest/tcp-open.ts) tried only the first, so `--connect localhost:PORT` said
 * nothing listens there (ECONNREFUSED on ::1). Now each address is tried in turn, as before.
 * The name's addresses are set by a private /etc/hosts, bind-mounted in a mount namespace of the
 * command's own (unshare -m), so only root can run it.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type FakeGuestfwd, fakeGuestfwd } from "./helpers/guestfwd.ts";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, exitOrKill } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { cannotMount } from "./helpers/small-fs.ts";
import { testUnless, toolMissing } from "./helpers/tools.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
let forward: FakeGuestfwd;

beforeAll(async () => {
  paths = testPaths("tcp-addresses");
  arbiter = await ArbiterProcess.start(paths);
  forward = fakeGuestfwd("hosts-vm", paths.socket);
});
afterAll(async () => {
  forward?.stop();
  await arbiter?.stop();
  paths?.cleanup();
});

testUnless(
  cannotMount ?? toolMissing("unshare"),
  "--connect localhost:PORT reaches an arbiter on 127.0.0.1 when localhost is ::1 first",
  async () => {
    const hosts = join(paths.dir, "hosts");
    writeFileSync(hosts, "::1 localhost\n127.0.0.1 localhost\n");
    const command = tracked(
      Bun.spawn(
        [
          "unshare",
          "-m",
          "sh",
          "-c",
          'mount --bind "$1" /etc/hosts && exec "$2" "$3" status --connect "$4"',
          "sh",
          hosts,
          process.execPath,
          CLI,
          `localhost:${forward.port}`,
        ],
        { stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } },
      ),
    );
    const stdout = new Response(command.stdout).text();
    const stderr = new Response(command.stderr).text();
    const code = await exitOrKill(command, 30_000);
    expect({ code, stderr: await stderr }).toEqual({ code: 0, stderr: "" });
    expect(await stdout).toContain(`arbiter pid ${arbiter.pid}`);
  },
  60_000,
);

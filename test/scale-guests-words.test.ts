/**
 * What test/vm/scale-guests says when a guest client fails (src/bench/scale-guests.ts). Its VM's script
 * waited for all 20 receivers (`wait`), so one that failed at once (a connect timing out under load) kept the
 * VM up for the 19 others, and the case failed only at its 420 s bound, saying "it took longer than 420 s"
 * and nothing of the client. The script now ends at the first client's exit, with that client's words; a
 * bound that is hit says how many clients each VM has connected and which channels no receiver opened.
 * The script runs here under the host's /bin/sh (busybox ash in the VM: both POSIX, neither with `wait -n`),
 * with an `ivsh` stand-in.
 */
import { afterEach, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Child } from "../src/bench/child.ts";
import { firstClientExit, guestScript, missingClients, untilConnected } from "../src/bench/scale-guests.ts";
import type { StatusReport } from "../src/protocol/status-report.ts";
import { channelSlotName } from "../src/region/layout.ts";
import { exitOrKill } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) {
    // The stand-ins still waiting: each wrote its pid.
    for (const pid of readFileSync(join(dir, "pids"), "utf8").split("\n").filter(Boolean)) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

/** An `ivsh` whose `guest recv` on channel FAILING fails at once; every other waits (120 s) as for a sender. */
function standIn(failing: string): string {
  const dir = mkdtempSync("/tmp/ivsh-scale-guests-words-");
  dirs.push(dir);
  writeFileSync(join(dir, "pids"), "");
  writeFileSync(
    join(dir, "ivsh"),
    `#!/bin/sh
echo $$ >>${dir}/pids
if [ "$4" = ${failing} ]; then echo "[ivsh] ERROR Failed to connect to the arbiter since it is a test" >&2; exit 1; fi
exec sleep 120
`,
  );
  chmodSync(join(dir, "ivsh"), 0o755);
  return dir;
}

test("a guest script whose third client fails ends at once, with that client's words and code", async () => {
  const dir = standIn("vm0-c3");
  // A file, not a pipe: the other clients, still waiting, hold it open after the script's exit.
  const stderr = join(dir, "stderr");
  const script = tracked(
    Bun.spawn(["/bin/sh", "-c", guestScript("vm0", 20)], {
      stdin: "ignore",
      stdout: "ignore",
      stderr: Bun.file(stderr),
      env: { ...process.env, PATH: `${dir}:${process.env.PATH}` },
    }),
  );
  // A liveness bound, far below the 120 s the other 19 wait.
  expect(await exitOrKill(script, 60_000)).toBe(1);
  const lines = readFileSync(stderr, "utf8").trim().split("\n");
  expect(firstClientExit(lines)).toBe(
    "[ivsh] ERROR Failed to connect to the arbiter since it is a test | " +
      "ivsh guest recv --channel vm0-c3 --out /dev/null exited with code 1",
  );
}, 90_000);

test("a VM that exited fails the wait for its clients at once, with its first client's words", async () => {
  const exit = "ivsh guest recv --channel vm0-c4 --out /dev/null exited with code 1";
  const vm = new Child(
    ["/bin/sh", "-c", `echo "[ivsh] ERROR it is a test" >&2; echo "${exit}" >&2; exit 1`],
    "guest VM vm0",
  );
  expect(await vm.exitedWith).toBe(1);
  // No arbiter at that socket: the VM's exit is told before the arbiter is asked.
  const waiting = untilConnected(
    { unix: "/nonexistent/ivsh.sock" },
    [vm],
    ["vm0"],
    20,
    "measure 20 guest connections",
  );
  await expect(waiting).rejects.toThrow(
    `Failed to measure 20 guest connections since the guest VM vm0 exited before its clients connected: [ivsh] ERROR it is a test | ${exit}`,
  );
});

test("the first client's words are told, with how many more exited; a VM without them, its last lines", () => {
  const exit = (channel: string) => `ivsh guest recv --channel ${channel} --out /dev/null exited with code 1`;
  const lines = ["boot note", "error of c2", "error of c7", exit("vm0-c2"), exit("vm0-c7")];
  expect(firstClientExit(lines)).toBe(
    `boot note | error of c2 | error of c7 | ${exit("vm0-c2")} (1 more exited before the VM stopped)`,
  );
  expect(firstClientExit(["a", "b", "c", "d", "e", "f"])).toBe("b | c | d | e | f");
});

test("a bound hit names, per VM short of its clients, how many are connected and the channels not opened", () => {
  const client = (vm: string, connected = true) => ({ vm, connected });
  const channels = (vm: string, numbers: number[]) =>
    numbers.map((n) => ({ name: channelSlotName(`${vm}-c${n}`) }));
  const report = {
    clients: [
      client("vm0"),
      client("vm0"),
      client("vm0", false),
      client("vm1"),
      client("vm1"),
      client("vm1"),
    ],
    sync: [...channels("vm0", [1, 3]), ...channels("vm1", [1, 2, 3]), { name: "vm0-c2" }],
  } as unknown as StatusReport;
  expect(missingClients(report, ["vm0", "vm1"], 3)).toBe(
    "VM vm0 has 2 of 3 clients connected (channel vm0-c2 not opened)",
  );
  const opened = { ...report, sync: channels("vm0", [1, 2, 3]) } as StatusReport;
  expect(missingClients(opened, ["vm0"], 3)).toBe(
    "VM vm0 has 2 of 3 clients connected (every channel opened)",
  );
});

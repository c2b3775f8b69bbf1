/**
 * scripts/experiments/transfer-path.sh starts a private arbiter (`ivsh host &`). Run from a systemd unit
 * (Type=notify) or any service with NOTIFY_SOCKET, that arbiter inherited it and told the caller's unit
 * READY=1 and, stopped at the end, STOPPING=1, as if it were the unit's main process (the defect 955239b
 * fixed in scripts/qemu/throughput.sh). Here the script measures a 1 KiB file once with NOTIFY_SOCKET on a
 * datagram socket the test listens on: nothing may arrive. The arbiter is gone by the time the script has
 * exited (its trap kills it; the test waits for that too), so any datagram it sent is queued by then.
 */
import { expect } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { bindDatagramSocket, receiveWithFd } from "../src/ffi/fd-passing.ts";
import { closeFd } from "../src/ffi/index.ts";
import { REPO } from "./helpers/paths.ts";
import { exitOrKill } from "./helpers/processes.ts";
import { testWithTool } from "./helpers/tools.ts";
import { BINARY, ensureBinary } from "./vm/vm.ts";

const SCRIPT = join(REPO, "scripts/experiments/transfer-path.sh");
/** Liveness bound only: the script runs a dozen short transfers of at most 1 KiB. */
const BOUND_MS = 120_000;

/** Processes whose command line names `word` (the script's arbiter: its region is under the work dir). */
function processesNaming(word: string): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(word);
      } catch {
        return false;
      }
    })
    .map(Number);
}

testWithTool(
  "socat",
  "transfer-path.sh's arbiter tells the caller's service manager nothing (NOTIFY_SOCKET not passed on)",
  async () => {
    await ensureBinary();
    const dir = mkdtempSync("/tmp/ivsh-test-path-notify-");
    const notifySocket = join(dir, "notify.sock");
    const listening = bindDatagramSocket(notifySocket);
    const before = new Set(readdirSync("/dev/shm").filter((entry) => entry.startsWith("ivsh-path-")));
    try {
      const run = Bun.spawn(["bash", SCRIPT, "1K", "1"], {
        cwd: REPO,
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
        env: { ...process.env, IVSH: BINARY, NOTIFY_SOCKET: notifySocket },
      });
      const [stdout, stderr] = [new Response(run.stdout).text(), new Response(run.stderr).text()];
      expect({ code: await exitOrKill(run, BOUND_MS), stderr: await stderr }).toEqual({
        code: 0,
        stderr: "",
      });
      expect(await stdout).toContain("ivsh 1K → file");
      // The script removed its work dir; its arbiter (killed by the trap) may still be on its way out.
      expect(
        readdirSync("/dev/shm").filter((entry) => entry.startsWith("ivsh-path-") && !before.has(entry)),
      ).toEqual([]);
      const deadline = Date.now() + BOUND_MS;
      while (processesNaming("/dev/shm/ivsh-path-").length > 0 && Date.now() < deadline) await Bun.sleep(50);
      // Before: "READY=1\nMAINPID=...\nSTATUS=serving ...".
      const datagram = receiveWithFd(listening, notifySocket);
      expect(datagram && new TextDecoder().decode(datagram.payload)).toBeUndefined();
    } finally {
      closeFd(listening);
      rmSync(dir, { recursive: true, force: true });
    }
  },
  2 * BOUND_MS,
);

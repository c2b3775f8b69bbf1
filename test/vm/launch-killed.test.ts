/**
 * launch.sh SIGKILLed after its QEMU has exited (as `ivsh bench`'s second Ctrl-C kills it while it drains
 * QEMU's output): its watchdog must still remove its temp dir. It did so only if it could still signal
 * QEMU, and otherwise exited leaving /tmp/ivsh-vm.NAME.* behind. The order is forced, without timing: the
 * test holds the output FIFO open, so launch.sh, once its QEMU has exited and been reaped, waits in its
 * drain; then it is killed.
 */
import { expect } from "bun:test";
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO } from "../helpers/paths.ts";
import { exitOrKill } from "../helpers/processes.ts";
import { testWithTool } from "../helpers/tools.ts";
import { ensureBinary, LAUNCH, vmName } from "./vm.ts";

/** Liveness bounds only: the watchdog looks once a second. */
const BOUND_MS = 60_000;

function qemuOf(name: string): number {
  for (const entry of readdirSync("/proc").filter((each) => /^\d+$/.test(each))) {
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      if (argv[0]?.includes("qemu-system") && argv[argv.indexOf("-name") + 1] === name) return Number(entry);
    } catch {
      // exited while we looked
    }
  }
  return 0;
}

/** Polls until `ready` holds, within a liveness bound. */
async function until(ready: () => boolean): Promise<void> {
  const deadline = Date.now() + BOUND_MS;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`not so within ${BOUND_MS} ms: ${ready}`);
    await Bun.sleep(50);
  }
}

const tempDirsOf = (name: string) =>
  readdirSync(process.env.TMPDIR ?? tmpdir()).filter((entry) => entry.startsWith(`ivsh-vm.${name}.`));

testWithTool(
  "qemu-system-x86_64",
  "launch.sh killed after its QEMU exited: its temp dir is removed all the same",
  async () => {
    await ensureBinary();
    const name = vmName("killed");
    const launch = Bun.spawn([LAUNCH, "--name", name, "--region", "none", "--run", "echo up"], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "ignore",
    });
    const base = process.env.TMPDIR ?? tmpdir();
    // A writer of launch.sh's output FIFO besides QEMU, opened before QEMU starts: its reader, and so
    // launch.sh, wait for it once QEMU has exited and been reaped.
    await until(() => tempDirsOf(name).some((dir) => existsSync(join(base, dir, "out"))));
    const dir = tempDirsOf(name)[0]!;
    const held = openSync(join(base, dir, "out"), "r+");
    try {
      let qemu = 0;
      await until(() => {
        qemu = qemuOf(name);
        return qemu > 0;
      });
      const reader = launch.stdout.getReader();
      let said = "";
      const decoder = new TextDecoder();
      while (!said.includes("up")) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the VM ended before it said "up": ${said}`);
        said += decoder.decode(value, { stream: true });
      }
      // "up" was the guest script's last word: QEMU powers off, and launch.sh reaps it.
      await until(() => !existsSync(`/proc/${qemu}`));
      launch.kill("SIGKILL");
    } finally {
      closeSync(held);
      rmSync(join(REPO, "build/qemu/run", `${name}.lock`), { force: true });
    }
    expect(await exitOrKill(launch, BOUND_MS)).not.toBe("late");
    await until(() => tempDirsOf(name).length === 0).catch(() => undefined);
    expect(tempDirsOf(name)).toEqual([]);
  },
  3 * BOUND_MS,
);

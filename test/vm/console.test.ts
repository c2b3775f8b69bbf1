/**
 * launch.sh's interactive shell (no --run), typed at as a user types: Ctrl-C must interrupt the command
 * in the foreground and, at the prompt, only cancel the line, as on any Linux console. The shell used to
 * start as a background job of /init, so it inherited SIGINT ignored: Ctrl-C stopped nothing (`sleep`
 * ran on), and at the prompt it ended the shell, which powered the VM off.
 */
import { expect } from "bun:test";
import { exitOrKill } from "../helpers/processes.ts";
import { testWithTool } from "../helpers/tools.ts";
import { ensureBinary, LAUNCH, vmName } from "./vm.ts";

/** Generous under TCG on a loaded 2-core machine: a boot takes 4–9 s. */
const BOOT_BOUND_MS = 90_000;
const STEP_BOUND_MS = 30_000;

/** A console on launch.sh's stdin/stdout that answers the line editor's cursor query as a terminal does. */
class Console {
  text = "";
  private readonly decoder = new TextDecoder();

  constructor(private readonly proc: Bun.Subprocess<"pipe", "pipe", "pipe">) {
    void this.pump();
  }

  private async pump(): Promise<void> {
    for await (const chunk of this.proc.stdout) {
      const text = this.decoder.decode(chunk, { stream: true });
      this.text += text;
      // busybox's line editor asks for the cursor position (ESC [ 6 n) at each prompt.
      if (text.includes("\x1b[6n")) this.type("\x1b[1;1R");
    }
  }

  type(keys: string): void {
    if (this.proc.exitCode !== null) return;
    this.proc.stdin.write(keys);
    this.proc.stdin.flush();
  }

  /** Waits until the output holds `count` matches of `pattern`, or says what the console showed. */
  async waitFor(pattern: RegExp, count: number, boundMs: number, what: string): Promise<void> {
    const deadline = performance.now() + boundMs;
    const matches = () => (this.text.match(new RegExp(pattern.source, "g")) ?? []).length;
    while (matches() < count) {
      if (this.proc.exitCode !== null || performance.now() > deadline) {
        const state = this.proc.exitCode === null ? "still running" : `exited ${this.proc.exitCode}`;
        throw new Error(`no ${what} (the VM ${state}); console:\n${this.text.slice(-1500)}`);
      }
      await Bun.sleep(100);
    }
  }
}

testWithTool(
  "qemu-system-x86_64",
  "Ctrl-C in the interactive guest shell interrupts the command, and at the prompt keeps the VM running",
  async () => {
    await ensureBinary();
    const name = vmName("console");
    const proc = Bun.spawn([LAUNCH, "-q", "--name", name, "--region", "none"], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
    try {
      const term = new Console(proc);
      const prompt = new RegExp(`${name}:~# `);
      await term.waitFor(prompt, 1, BOOT_BOUND_MS, "first prompt");
      term.type("\x03");
      await term.waitFor(prompt, 2, STEP_BOUND_MS, "prompt after Ctrl-C at the prompt");
      // A background watcher says "sleeping" once a process named sleep runs, that is once `sleep 600` has
      // been exec'd: its SIGINT disposition is then final (a Ctrl-C before could land on the shell's fork
      // instead, or between commands). `sl""eeping` is printed as "sleeping" only when the watcher sees it,
      // not when the line is echoed.
      term.type('(until pidof sleep >/dev/null; do usleep 20000; done; echo sl""eeping) & sleep 600\n');
      await term.waitFor(/sleeping\r?\n/, 1, STEP_BOUND_MS, "`sleep 600` running");
      term.type("\x03");
      await term.waitFor(prompt, 3, STEP_BOUND_MS, "prompt after Ctrl-C on `sleep 600`");
      term.type('echo "interrupted rc=$?"\n');
      await term.waitFor(/interrupted rc=130/, 1, STEP_BOUND_MS, "`sleep 600` interrupted by Ctrl-C");
      term.type("poweroff\n");
      expect(await exitOrKill(proc, STEP_BOUND_MS)).toBe(0);
    } finally {
      if (proc.exitCode === null) proc.kill("SIGTERM");
      await proc.exited;
    }
  },
  BOOT_BOUND_MS + 5 * STEP_BOUND_MS,
);

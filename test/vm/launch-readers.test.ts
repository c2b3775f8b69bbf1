/**
 * launch.sh --run's readers of QEMU's output FIFOs must end however QEMU ends. Each reader opened its FIFO
 * itself, in the background, and an open() for reading blocks until a writer comes: one that got there
 * after launch.sh's release of the FIFOs (a reader slow to start on a loaded machine, QEMU refusing an
 * option at once) blocked for ever, and launch.sh with it; with launch.sh SIGKILLed before QEMU opened
 * the FIFOs, the reader was left blocked for ever, holding launch.sh's stdout (whoever read it to its end
 * waited for ever). Here a `cat` on PATH that starts 2 s late stands for the slow reader, and a QEMU that
 * never opens its FIFOs for the early kill.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { REPO } from "../helpers/paths.ts";
import { exitOrKill } from "../helpers/processes.ts";
import { tracked } from "../helpers/reaper.ts";
import { testWithTool } from "../helpers/tools.ts";
import { ensureBinary, LAUNCH, vmName } from "./vm.ts";

/** Liveness bounds only: each case takes a few seconds; the defect never ended. */
const BOUND_MS = 60_000;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync("/tmp/ivsh-test-launch-readers-");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** An executable of `text` at DIR/`name`; returns its directory, for PATH. */
function script(name: string, text: string): string {
  const path = join(dir, name);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  chmodSync(path, 0o755);
  return dirname(path);
}

function commandOf(pid: number | string): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return ""; // exited
  }
}

/** Processes still about VM `name`: a reader of its FIFOs (by path) or its stand-in QEMU. */
function leftOf(name: string): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => commandOf(pid).includes(`ivsh-vm.${name}.`))
    .map(Number);
}

/** Reads `stream` to its end within the bound: "open" if it has not ended by then. */
async function endOf(stream: ReadableStream<Uint8Array>): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const open = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve("open"), BOUND_MS);
  });
  const outcome = await Promise.race([new Response(stream).text(), open]);
  clearTimeout(timer);
  return outcome;
}

testWithTool(
  "qemu-system-x86_64",
  "a reader that starts after QEMU refused its command line: launch.sh still exits 125",
  async () => {
    await ensureBinary();
    const bin = script(
      "slow-cat/cat",
      // Only the readers of launch.sh's FIFOs (by argument or on stdin) start late; every other cat is cat.
      '#!/bin/sh\ncase "$1$(readlink /proc/self/fd/0)" in *ivsh-vm.*) sleep 2 ;; esac\nexec /bin/cat "$@"\n',
    );
    const name = vmName("late-reader");
    const launch = tracked(
      Bun.spawn(
        [
          LAUNCH,
          "--name",
          name,
          "--region",
          "none",
          "--separate-stderr",
          "--qemu-arg",
          "-no-such-option",
        ].concat(["--run", "true"]),
        {
          stdin: "ignore",
          stdout: "pipe",
          stderr: "pipe",
          env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
        },
      ),
    );
    const stderr = new Response(launch.stderr).text();
    const code = await exitOrKill(launch, BOUND_MS);
    for (const pid of leftOf(name)) process.kill(pid, "SIGKILL");
    rmSync(join(REPO, "build/qemu/run", `${name}.lock`), { force: true }); // left if launch.sh was killed
    const said = await stderr;
    expect({ code, said }).toEqual({
      code: 125,
      said: expect.stringContaining("-no-such-option: invalid option"),
    });
  },
  2 * BOUND_MS,
);

testWithTool(
  "qemu-system-x86_64",
  "launch.sh SIGKILLed before its QEMU opened the output FIFOs: no reader is left, its stdout ends",
  async () => {
    await ensureBinary();
    const started = join(dir, "qemu-started");
    // A QEMU that never opens its FIFOs (one still starting up); launch.sh's watchdog stops it.
    const bin = script("qemu/qemu-system-x86_64", `#!/bin/sh\necho $$ > ${started}\nexec sleep 600\n`);
    const name = vmName("killed-early");
    const launch = tracked(
      Bun.spawn([LAUNCH, "--name", name, "--region", "none", "--separate-stderr", "--run", "true"], {
        stdin: "ignore",
        stdout: "pipe",
        stderr: "ignore",
        // IVSH_ACCEL=tcg: no KVM probe, which would run the stand-in and cache "tcg" for this host boot.
        env: { ...process.env, IVSH_ACCEL: "tcg", PATH: `${bin}:${process.env.PATH}` },
      }),
    );
    try {
      const deadline = Date.now() + BOUND_MS;
      while (!existsSync(started) && Date.now() < deadline) await Bun.sleep(50);
      expect(existsSync(started)).toBe(true);
      launch.kill("SIGKILL");
      expect(await endOf(launch.stdout)).toBe("");
    } finally {
      launch.kill("SIGKILL");
      for (const pid of leftOf(name)) process.kill(pid, "SIGKILL");
      const qemu = existsSync(started) ? Number(readFileSync(started, "utf8")) : 0;
      if (qemu > 0 && commandOf(qemu).startsWith("sleep")) process.kill(qemu);
      rmSync(join(REPO, "build/qemu/run", `${name}.lock`), { force: true });
    }
  },
  2 * BOUND_MS,
);

/**
 * A shell's background `ivsh guest recv` has SIGINT ignored (POSIX has a non-interactive shell ignore it for
 * its `&` jobs; `trap '' INT` here), so that a Ctrl-C meant for the foreground job leaves it be. Bun drops
 * that ignore when one of the standard descriptors is a terminal, before any of the CLI's code runs (it
 * catches SIGINT and SIGTERM to restore the terminal's modes, then dies of the signal), so the CLI saw
 * SIGINT as not ignored and the terminal's Ctrl-C killed the receiver. The package's command
 * (bin/ivsh.mjs) reads the disposition in its shell lines, before it execs Bun, and the CLI keeps it.
 * (dist/ivsh, Bun's single executable, has no such lines: nothing of ours runs before Bun there.)
 * Real processes on a pseudo-terminal (script(1)); SIGINT to the terminal's foreground process group, as
 * the terminal sends it for a Ctrl-C; then a sender: the receiver must still be there to take the file.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO, type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, exitOrKill } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { testWithTool } from "./helpers/tools.ts";

/** Liveness bound only. */
const BOUND_MS = 30_000;
const COMMAND = join(REPO, "bin/ivsh.mjs");

let paths: TestPaths;
let arbiter: ArbiterProcess;
beforeAll(async () => {
  paths = testPaths("ignored-int-tty");
  arbiter = await ArbiterProcess.start(paths);
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

/** Polls until `ready` holds, within the liveness bound. */
async function until(ready: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + BOUND_MS;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`not within ${BOUND_MS} ms: ${what}`);
    await Bun.sleep(50);
  }
}

/** The foreground process group of `pid`'s terminal: field 8 of /proc/PID/stat, after the command's name. */
function foregroundGroupOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const [, , , , , tpgid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  if (!(Number(tpgid) > 0)) throw new Error(`process ${pid} has no terminal: ${stat}`);
  return Number(tpgid);
}

testWithTool(
  "script",
  "a background `ivsh guest recv` with SIGINT ignored, on a terminal: a Ctrl-C to its process group leaves it be",
  async () => {
    const [receiverPid, received, sent] = [
      join(paths.dir, "receiver"),
      join(paths.dir, "received"),
      join(paths.dir, "sent"),
    ];
    writeFileSync(sent, "what the receiver must still take\n");
    // script(1) runs this through $SHELL, `exec`ed whatever that is (dash and fish would otherwise keep a shell
    // without the trap above it, which the Ctrl-C kills), so the job's shell leads the terminal's foreground
    // process group; its `&` receiver, without job control, is in that group too.
    let output = "";
    const job = join(paths.dir, "job.sh");
    writeFileSync(
      job,
      `trap '' INT\n${COMMAND} guest recv --channel tty --out ${received} &\necho $! > ${receiverPid}\nwait $!\n`,
    );
    const terminal = tracked(
      Bun.spawn(["script", "-qec", `exec sh ${job}`, "/dev/null"], {
        stdin: "pipe", // kept open: script ends when its input does
        stdout: "pipe",
        stderr: "pipe",
        env: { ...process.env, IVSH_SOCKET: paths.socket, IVSH_REGION: paths.region, NO_COLOR: "1" },
      }),
    );
    const said = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of terminal.stdout) output += decoder.decode(chunk, { stream: true });
    })();
    try {
      await until(
        () => existsSync(receiverPid) && readFileSync(receiverPid, "utf8").endsWith("\n"),
        "its pid",
      );
      // Said once it waits on its channel (to the terminal, script's output here).
      await until(() => output.includes("waiting for a sender"), "the receiver waiting");
      // What the Ctrl-C meets: SIGINT ignored again (bit 1 of SigIgn), not caught by Bun's terminal handler.
      const receiver = Number(readFileSync(receiverPid, "utf8"));
      // The terminal's foreground process group (stat's tpgid), where a Ctrl-C goes.
      const foreground = foregroundGroupOf(receiver);
      const disposition = /^SigIgn:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${receiver}/status`, "utf8"));
      expect({ sigintIgnored: (BigInt(`0x${disposition?.[1] ?? "0"}`) & 2n) !== 0n, output }).toEqual({
        sigintIgnored: true,
        output,
      });
      process.kill(-foreground, "SIGINT");
      const sender = tracked(
        Bun.spawn([process.execPath, join(REPO, "src/cli.ts"), "guest", "send", sent, "--channel", "tty"], {
          stdin: "ignore",
          stdout: "ignore",
          stderr: "pipe",
          env: { ...process.env, IVSH_SOCKET: paths.socket, IVSH_REGION: paths.region },
        }),
      );
      const send = {
        exitCode: await exitOrKill(sender, BOUND_MS),
        said: await new Response(sender.stderr).text(),
      };
      // Before: the receiver died of the SIGINT, and the sender waited for one ("late").
      const code = await exitOrKill(terminal, BOUND_MS);
      expect({
        code,
        send: send.exitCode,
        said: code === 0 && send.exitCode === 0 ? "" : output + send.said,
      }).toEqual({
        code: 0,
        send: 0,
        said: "",
      });
      expect(readFileSync(received, "utf8")).toBe(readFileSync(sent, "utf8"));
    } finally {
      terminal.stdin.end();
      terminal.kill();
      await Promise.race([said, Bun.sleep(1000)]);
    }
  },
  3 * BOUND_MS,
);

/**
 * A stale FILE.partial taken over (src/transfer/out-names.ts, removeStale) is unlinked only while the file
 * locked is still the one at the name. Another receiver that took it over first (locked it, unlinked it,
 * made its own) leaves the old file free to lock; unlinked by name then, the other's new FILE.partial was
 * removed under it. Here the receiver is stopped (strace, SIGSTOP) right after its lock, and the name given
 * a new file meanwhile.
 */
import { afterAll, expect } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO } from "./helpers/paths.ts";
import { EXIT_BOUND_MS, eventually, exitOrKill } from "./helpers/processes.ts";
import { descendantsOf, tracked } from "./helpers/reaper.ts";
import { straceUnusable, testUnless } from "./helpers/tools.ts";

const dir = mkdtempSync(join(tmpdir(), "ivsh-out-partial-swapped-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

testUnless(
  straceUnusable(),
  "--force over a stale FILE.partial that got another file after it was locked: refused as busy, that file left",
  async () => {
    const target = join(dir, "file");
    const partial = `${target}.partial`;
    writeFileSync(target, "the old file");
    writeFileSync(partial, "an earlier run's bytes");
    const script = [
      `import { Sink } from ${JSON.stringify(join(REPO, "src/transfer/sink.ts"))};`,
      `try { Sink.open(${JSON.stringify(target)}, { force: true }).abandon(); console.log("opened"); }`,
      "catch (error) { console.log(error.message); }",
    ].join("\n");
    const log = join(dir, "strace.log");
    // Stopped just after its first flock of the stale file (-P: no other file's), until SIGCONT.
    const stop = ["-f", "-qq", "-o", log, "-P", partial, "-e", "trace=flock"];
    stop.push("-e", "inject=flock:signal=SIGSTOP:when=1");
    const child = tracked(
      Bun.spawn(["strace", ...stop, process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" }),
    );
    const said = new Response(child.stdout).text();
    const stderr = new Response(child.stderr).text();
    const stopped = () =>
      existsSync(log) ? /^(\d+) +--- stopped by SIGSTOP/m.exec(readFileSync(log, "utf8")) : null;
    // Once seen failing in a whole run (never alone): what the child did is said, not only the bound.
    const ended = child.exited.then(async (code) => `exited ${code}: ${await said} ${await stderr}`);
    // It failed in whole CI runs, never alone: strace pads a pid to its column ("8276  --- stopped by
    // SIGSTOP"), so with 4-digit pids (a fresh machine) the stop went unseen; here 5-digit pids hid it.
    // Should it time out again, what each process under strace was doing is said, with the log below.
    const waited = eventually(
      async () => stopped() !== null,
      EXIT_BOUND_MS,
      "the receiver to stop after its lock",
    );
    const outcome = await Promise.race([
      waited.catch((error) => `${(error as Error).message}; under strace: ${statesUnder(child.pid)}`),
      ended,
    ]);
    expect(outcome, `strace log: ${existsSync(log) ? readFileSync(log, "utf8") : "none"}`).toBeUndefined();
    // Another receiver took it over meanwhile: unlinked it and made its own, which it writes.
    rmSync(partial);
    writeFileSync(partial, "another receiver's bytes");
    process.kill(Number(stopped()?.[1]), "SIGCONT");
    expect(await exitOrKill(child, EXIT_BOUND_MS)).toBe(0);
    // Before (a mutation dropping the check): "opened", the other receiver's file unlinked for its own.
    expect(await said).toContain(`another receiver is writing ${partial} now`);
    expect(readFileSync(partial, "utf8")).toBe("another receiver's bytes");
  },
);

/** `root` and each live process under it: pid, command, state and kernel wait. */
function statesUnder(root: number): string {
  const said = [root, ...descendantsOf(root)].map((pid) => {
    try {
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, "m").exec(status)?.[1] ?? "?";
      const wchan = readFileSync(`/proc/${pid}/wchan`, "utf8");
      return `${pid} ${field("Name")} ${field("State")} wchan=${wchan} threads=${field("Threads")}`;
    } catch {
      return `${pid} gone`;
    }
  });
  return said.join("; ") || "none";
}

/**
 * Output without Node's stream objects (src/log.ts `writeStandard`): every byte, in order with the
 * logger's lines, and a reader that went away is not an error. Each case is a process of its own, so its
 * stdout and stderr are real descriptors.
 */
import { expect, test } from "bun:test";
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO } from "./helpers/paths.ts";
import { testWithTool } from "./helpers/tools.ts";

const LOG = JSON.stringify(join(REPO, "src/log.ts"));
const ERRORS = JSON.stringify(join(REPO, "src/errors.ts"));

function runScript(body: string, env: Record<string, string | undefined> = {}) {
  const script = `import { log, writeStandard } from ${LOG};\n${body}`;
  return Bun.spawn([process.execPath, "-e", script], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1", IVSH_LOG_LEVEL: undefined, DEBUG: undefined, ...env },
  });
}

/** What a script logs on stderr, with its exit code. */
async function logged(body: string, env: Record<string, string | undefined> = {}) {
  const child = runScript(body, env);
  const [code, stderr] = await Promise.all([child.exited, new Response(child.stderr).text()]);
  return { code, stderr };
}

test("writeStandard writes every byte of multi-byte text, in order with the logger's lines", async () => {
  const child = runScript(
    'writeStandard(1, "données ✔\\n".repeat(20000));\nlog.success("done");\nwriteStandard(2, "après\\n");',
  );
  const [code, stdout, stderr] = await Promise.all([
    child.exited,
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  expect(code).toBe(0);
  expect(stdout).toBe("données ✔\n".repeat(20000));
  expect(stderr).toBe("[ivsh] ✔ done\naprès\n");
});

test("writeStandard to a reader that went away (EPIPE) is not an error", async () => {
  const child = runScript(
    'process.on("SIGPIPE", () => {});\nawait Bun.sleep(200);\nwriteStandard(1, "x".repeat(1 << 20));\nwriteStandard(2, "still here\\n");',
  );
  // Nobody reads stdout: close our end of the pipe at once, so the child's write meets a closed reader.
  await child.stdout.cancel();
  const [code, stderr] = await Promise.all([child.exited, new Response(child.stderr).text()]);
  expect(stderr).toBe("still here\n");
  expect(code).toBe(0);
});

test("DEBUG=0 and DEBUG=false leave the level at info; any other DEBUG means debug", async () => {
  for (const off of ["0", "false"])
    expect(await logged('log.debug("hidden"); log.info("shown");', { DEBUG: off })).toEqual({
      code: 0,
      stderr: "[ivsh] ℹ shown\n",
    });
  expect((await logged('log.debug("shown");', { DEBUG: "1" })).stderr).toBe("[ivsh] debug shown\n");
});

test("IVSH_LOG_LEVEL is read in any case: DEBUG is debug, with no warning", async () => {
  expect(await logged('log.debug("shown");', { IVSH_LOG_LEVEL: "DEBUG" })).toEqual({
    code: 0,
    stderr: "[ivsh] debug shown\n",
  });
});

test("log.notice (a stop the user asked for) is unlabelled, logged as warnings are: not at IVSH_LOG_LEVEL=error", async () => {
  expect((await logged('log.notice("stopped");')).stderr).toBe("[ivsh] stopped\n");
  expect((await logged('log.notice("stopped");', { IVSH_LOG_LEVEL: "warn" })).stderr).toBe(
    "[ivsh] stopped\n",
  );
  expect((await logged('log.notice("stopped");', { IVSH_LOG_LEVEL: "error" })).stderr).toBe("");
});

test("an Internal error (a bug) is logged with its stack; any other IvshError as its one-line message", async () => {
  const body = (code: string) =>
    `const { IvshError } = await import(${ERRORS});\nlog.error(new IvshError("${code}", "Failed to x since y"));`;
  const bug = await logged(body("Internal"));
  expect(bug.stderr).toStartWith("[ivsh] ERROR IvshError: Failed to x since y\n");
  expect(bug.stderr).toMatch(/\n +at /);
  expect((await logged(body("NotFound"))).stderr).toBe("[ivsh] ERROR Failed to x since y\n");
});

test("writeStandard to a stderr closed meanwhile (EBADF) is not an error: the command goes on", async () => {
  const child = runScript(
    '(await import("node:fs")).closeSync(2);\nwriteStandard(2, "lost\\n");\nwriteStandard(1, "after\\n");',
  );
  const [code, stdout] = await Promise.all([child.exited, new Response(child.stdout).text()]);
  expect({ code, stdout }).toEqual({ code: 0, stdout: "after\n" });
});

testWithTool("script", "on a terminal, the log is coloured unless TERM=dumb (or NO_COLOR)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ivsh-log-colour-"));
  try {
    const file = join(dir, "warn.ts");
    writeFileSync(file, `import { log } from ${LOG};\nlog.warn("careful");\n`);
    // util-linux script(1) gives the script a terminal on stdout and stderr.
    const onTerminal = async (term: string) => {
      const child = Bun.spawn(["script", "-qec", `"${process.execPath}" "${file}"`, "/dev/null"], {
        stdin: "ignore",
        stdout: "pipe",
        env: { ...process.env, NO_COLOR: undefined, TERM: term, IVSH_LOG_LEVEL: undefined },
      });
      const [output] = await Promise.all([new Response(child.stdout).text(), child.exited]);
      expect(output).toContain("careful");
      return output.includes("\x1b[");
    };
    expect(await onTerminal("xterm")).toBe(true);
    expect(await onTerminal("dumb")).toBe(false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * Under systemd, stderr is the journal and JOURNAL_STREAM names it (device:inode): each line then starts
 * with its syslog priority, which journald takes, rather than every line being info (`journalctl -p
 * warning` missed the arbiter's refusals, `systemctl status` its error). Stood in for by a file whose
 * device and inode JOURNAL_STREAM names; the same variable with stderr elsewhere (a pipe) changes nothing.
 */
test("with stderr the journal (JOURNAL_STREAM), each line starts with its syslog priority, not [ivsh]", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ivsh-log-journal-"));
  try {
    const path = join(dir, "stderr");
    const fd = openSync(path, "w");
    const { dev, ino } = fstatSync(fd, { bigint: true });
    const body = `const { IvshError } = await import(${ERRORS});
log.error("failed"); log.warn("careful"); log.info("noted"); log.success("done"); log.debug("detail");
log.notice("stopped");
log.error(new IvshError("Internal", "a bug"));`;
    const script = `import { log } from ${LOG};\n${body}`;
    const env = { ...process.env, NO_COLOR: "1", DEBUG: undefined, JOURNAL_STREAM: `${dev}:${ino}` };
    const child = Bun.spawn([process.execPath, "-e", script], {
      stdout: "ignore",
      stderr: fd,
      env: { ...env, IVSH_LOG_LEVEL: "debug" },
    });
    expect(await child.exited).toBe(0);
    closeSync(fd);
    const lines = readFileSync(path, "utf8").split("\n");
    expect(lines.slice(0, 7)).toEqual([
      "<3>ERROR failed",
      "<4>WARN careful",
      "<6>ℹ noted",
      "<6>✔ done",
      "<7>debug detail",
      "<5>stopped", // a stop the user asked for: notice, no label
      "<3>ERROR IvshError: a bug",
    ]);
    // A bug's stack: every line of it an error.
    expect(lines.slice(7, -1).length).toBeGreaterThan(0);
    for (const line of lines.slice(7, -1)) expect(line).toMatch(/^<3> +at /);
    expect(lines.at(-1)).toBe("");
    // The variable inherited, stderr a pipe: the usual lines.
    expect((await logged('log.warn("careful");', { JOURNAL_STREAM: `${dev}:${ino}` })).stderr).toBe(
      "[ivsh] WARN careful\n",
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// Mutation round 31: the stream's error is listened to once per stream, not once per hand-over: each
// write that met a full non-blocking pipe added one more, and the eleventh put Node's
// "MaxListenersExceededWarning: Possible EventEmitter memory leak" on stderr.
test("many writes handed to a full non-blocking stdout: every byte, and nothing on stderr", () => {
  const script = [
    `import { standardWritten, writeStandard } from ${LOG};`,
    `import { setNonBlocking } from ${JSON.stringify(join(REPO, "src/ffi/index.ts"))};`,
    `setNonBlocking(1, true, "stdout");`,
    `for (let index = 0; index < 20; index++) writeStandard(1, "x".repeat(16383) + "\\n");`,
    "await standardWritten();",
  ].join("\n");
  // The reader waits a second: the pipe (64 KiB) fills, and each later write is handed to the stream.
  const run = Bun.spawnSync(["sh", "-c", `"$0" -e "$1" | (sleep 1; wc -c)`, process.execPath, script], {
    stdout: "pipe",
    stderr: "pipe",
  });
  expect({ out: run.stdout.toString().trim(), err: run.stderr.toString() }).toEqual({
    out: "327680",
    err: "",
  });
});

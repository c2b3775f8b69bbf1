/** Transfers through names that are not plain files: /dev/stdout and its kin, FIFOs. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { streamSocketPair } from "../src/ffi/fd-passing.ts";
import { closeFd, isReady, POLLIN } from "../src/ffi/index.ts";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, EXIT_BOUND_MS, eventually, exitOrKill, readUntil } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { clientEnv, guest, outPath, randomFile, sameBytes } from "./helpers/transfer.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("xspecial");
  arbiter = await ArbiterProcess.start(paths, { size: "64MiB", lease: "2s" });
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

/** `ivsh guest recv ARGS` with its stdout redirected to `stdoutFile`, as `recv ... > FILE` in a shell. */
function receiverInto(stdoutFile: string, args: string[]) {
  writeFileSync(stdoutFile, ""); // the shell's `>` made it: it exists, empty
  const proc = Bun.spawn([process.execPath, CLI, "guest", "recv", ...args], {
    stdin: "ignore",
    stdout: Bun.file(stdoutFile),
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1", ...clientEnv(paths) },
  });
  return { proc, stderr: new Response(proc.stderr).text() };
}

describe("--out naming an open descriptor (/dev/stdout, /dev/fd/N, /proc/self/fd/N)", () => {
  for (const name of ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"])
    test(`recv --out ${name} > FILE writes FILE, leaves ${name} alone, and puts --json on stderr`, async () => {
      const channel = `descriptor-${name.replaceAll("/", "-")}`;
      const input = outPath(paths, `${channel}.in`);
      const redirected = outPath(paths, `${channel}.redirected`);
      const data = await randomFile(input, 3 << 20);
      const linkBefore = lstatSync(name).isSymbolicLink();
      const receiver = receiverInto(redirected, ["--channel", channel, "--out", name, "--json"]);
      const sender = guest(paths, ["send", "-q", "--channel", channel, input]);
      const received = await receiver.proc.exited;
      if (received !== 0) sender.proc.kill(); // it would wait for a receiver for ever
      const sent = await sender.exit();
      const stderr = await receiver.stderr;
      expect({ sent, received, stderr: received === 0 ? "" : stderr }).toEqual({
        sent: 0,
        received: 0,
        stderr: "",
      });
      // The data, and only the data, went where stdout points; the summary to stderr.
      expect(sameBytes(readFileSync(redirected), data)).toBe(true);
      expect(JSON.parse(stderr.trim().split("\n").at(-1) ?? "")).toMatchObject({ verified: true });
      expect(lstatSync(name).isSymbolicLink()).toBe(linkBefore);
      expect(await Bun.file(`${name}.partial`).exists()).toBe(false);
    });

  test("recv --out /dev/fd/N of a descriptor that is not open is refused, naming it", async () => {
    const args = ["--channel", "closed-fd", "--out", "/dev/fd/9", "--timeout", "1s"];
    const receiver = guest(paths, ["recv", ...args]);
    expect(await receiver.exit()).toBe(1);
    expect(await receiver.stderr).toContain("descriptor 9, which is not open");
  });
});

/** `ivsh guest ARGS` with its stderr read as it comes, to see what it says it waits for. */
function spawnGuest(args: string[]) {
  return Bun.spawn([process.execPath, CLI, "guest", ...args], {
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1", ...clientEnv(paths) },
  });
}

/** Stderr up to `text`; throws if it is not said within the liveness bound (the process is killed). */
async function saysWithin(proc: ReturnType<typeof spawnGuest>, text: string): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), EXIT_BOUND_MS);
  });
  const said = await Promise.race([readUntil(proc.stderr, text), late]);
  clearTimeout(timer);
  if (said?.includes(text)) return said;
  proc.kill("SIGKILL");
  throw new Error(`it did not say '${text}' within ${EXIT_BOUND_MS} ms; said: ${said ?? "(nothing)"}`);
}

/** The exit code, or a throw if it has not ended within the liveness bound (the process is killed). */
async function exitOf(proc: ReturnType<typeof spawnGuest>): Promise<number> {
  const outcome = await exitOrKill(proc, EXIT_BOUND_MS);
  if (outcome !== "late") return outcome;
  throw new Error(`it did not exit within ${EXIT_BOUND_MS} ms`);
}

describe("FIFOs: an end waiting for the program at the FIFO's other end hears signals and --timeout", () => {
  test("recv --out FIFO with no reader says so, gives up at --timeout, and exits 130 on SIGINT", async () => {
    const fifo = outPath(paths, "no-reader.fifo");
    execFileSync("mkfifo", [fifo]);
    const limited = spawnGuest(["recv", "--channel", "no-reader", "--out", fifo, "--timeout", "1s"]);
    expect(await exitOf(limited)).toBe(1);
    expect(await new Response(limited.stderr).text()).toContain("no program opened the FIFO for reading");
    const waiting = spawnGuest(["recv", "--channel", "no-reader", "--out", fifo, "--progress"]);
    await saysWithin(waiting, `waiting for a program to open ${fifo} for reading`);
    waiting.kill("SIGINT");
    expect(await exitOf(waiting)).toBe(130);
  });

  test("send FIFO with no writer exits 143 on SIGTERM; a writer that comes later is sent bit-exact", async () => {
    const fifo = outPath(paths, "no-writer.fifo");
    execFileSync("mkfifo", [fifo]);
    const alone = spawnGuest(["send", fifo, "--channel", "no-writer", "--progress"]);
    await saysWithin(alone, "waiting for a receiver");
    alone.kill("SIGTERM");
    expect(await exitOf(alone)).toBe(143);

    const input = outPath(paths, "late-writer.in");
    const output = outPath(paths, "late-writer.out");
    const data = await randomFile(input, 3 << 20);
    const sender = spawnGuest(["send", fifo, "--channel", "late-writer"]);
    const receiver = guest(paths, ["recv", "-q", "--channel", "late-writer", "--out", output]);
    // The shell's open of the FIFO for writing waits for the sender's open for reading.
    const writer = Bun.spawn(["sh", "-c", 'cat "$0" > "$1"', input, fifo]);
    expect([await exitOf(sender), await receiver.exit(), await writer.exited]).toEqual([0, 0, 0]);
    expect(sameBytes(readFileSync(output), data)).toBe(true);
  });

  // Before, a sender whose receiver was there said nothing at all while the FIFO had no writer.
  test("send FIFO with a receiver but no writer yet says it waits for a program to write to it", async () => {
    const fifo = outPath(paths, "unwritten.fifo");
    execFileSync("mkfifo", [fifo]);
    const input = outPath(paths, "unwritten.in");
    const output = outPath(paths, "unwritten.out");
    const data = await randomFile(input, 1 << 20);
    const receiver = guest(paths, ["recv", "-q", "--channel", "unwritten", "--out", output]);
    const sender = spawnGuest(["send", fifo, "--channel", "unwritten", "--progress"]);
    await saysWithin(sender, `waiting for a program to write to ${fifo} (a FIFO)`);
    const writer = Bun.spawn(["sh", "-c", 'cat "$0" > "$1"', input, fifo]);
    expect([await exitOf(sender), await receiver.exit(), await writer.exited]).toEqual([0, 0, 0]);
    expect(sameBytes(readFileSync(output), data)).toBe(true);
  });

  test("recv --out FIFO whose reader opens late gets the stream bit-exact", async () => {
    const fifo = outPath(paths, "late-reader.fifo");
    execFileSync("mkfifo", [fifo]);
    const input = outPath(paths, "late-reader.in");
    const data = await randomFile(input, 3 << 20);
    const receiver = spawnGuest(["recv", "--channel", "late-reader", "--out", fifo, "--progress"]);
    await saysWithin(receiver, `waiting for a program to open ${fifo} for reading`);
    const sender = guest(paths, ["send", "-q", "--channel", "late-reader", input]);
    const reader = Bun.spawn(["cat", fifo], { stdout: "pipe" });
    const copied = new Uint8Array(await new Response(reader.stdout).arrayBuffer());
    expect([await sender.exit(), await exitOf(receiver)]).toEqual([0, 0]);
    expect(sameBytes(copied, data)).toBe(true);
  });
});

describe("names that cannot be opened get the error of a bad FILE or --out, not a raw or internal one", () => {
  const cases: [string, (dir: string) => string, string][] = [
    ["a file used as a directory (ENOTDIR)", (dir) => join(dir, "plain.file", "x"), "is not a directory"],
    ["a loop of symbolic links (ELOOP)", (dir) => join(dir, "loop-a", "x"), "symbolic links (ELOOP)"],
    ["a name too long (ENAMETOOLONG)", (dir) => join(dir, "n".repeat(300)), "longer than its file system"],
    ["a Unix socket's name (ENXIO)", (dir) => join(dir, "listening.sock"), "is a socket"],
  ];
  for (const [label, pathIn, says] of cases)
    for (const role of ["send", "recv"] as const)
      test(`${role}: ${label}`, async () => {
        const dir = outPath(paths, `names-${role}-${label.replace(/\W+/g, "-")}`);
        mkdirSync(dir);
        writeFileSync(join(dir, "plain.file"), "plain\n");
        symlinkSync("loop-b", join(dir, "loop-a"));
        symlinkSync("loop-a", join(dir, "loop-b"));
        const listener = Bun.listen({ unix: join(dir, "listening.sock"), socket: { data() {} } });
        const path = pathIn(dir);
        const args = role === "send" ? [path] : ["--out", path, "--force"];
        const end = guest(paths, [role, ...args, "--channel", "names", "--timeout", "1s", "--json"]);
        const exitCode = await end.exit();
        listener.stop(true);
        expect(exitCode).toBe(1);
        await end.events.finished;
        const json = JSON.parse(end.events.lines.at(-1) ?? "");
        expect(json.error.code).not.toBe("Internal");
        expect(json.error.message).toContain(says);
        expect(json.error.message).toContain(
          role === "send" ? "FILE names the file" : "--out names the file",
        );
      });
});

test("recv --force leaves alone a file of the user's that is already called FILE.ivsh-replaced", async () => {
  const output = outPath(paths, "aside.out");
  const bystander = `${output}.ivsh-replaced`;
  writeFileSync(bystander, "the user's own file\n");
  writeFileSync(output, "the file to replace\n");
  const input = outPath(paths, "aside.in");
  const data = await randomFile(input, 256 << 10);
  const receiver = guest(paths, ["recv", "-q", "--channel", "aside", "--out", output, "--force"]);
  const sender = guest(paths, ["send", "-q", "--channel", "aside", input]);
  expect([await sender.exit(), await receiver.exit()]).toEqual([0, 0]);
  expect(sameBytes(readFileSync(output), data)).toBe(true);
  expect(readFileSync(bystander, "utf8")).toBe("the user's own file\n");
});

test("recv --out FIFO whose sender is killed mid-stream warns that the bytes already out are incomplete", async () => {
  const fifo = outPath(paths, "cut.fifo");
  execFileSync("mkfifo", [fifo]);
  const input = outPath(paths, "cut.in");
  await randomFile(input, 1 << 20);
  const receiver = spawnGuest(["recv", "--channel", "cut", "--out", fifo]);
  const reader = Bun.spawn(["cat", fifo], { stdout: "pipe" });
  // A pipe that never ends: the sender is mid-stream once the first chunk reached the FIFO's reader.
  const producer = Bun.spawn(["sh", "-c", 'cat "$0"; exec sleep 600', input], { stdout: "pipe" });
  const sender = Bun.spawn([process.execPath, CLI, "guest", "send", "-", "--channel", "cut", "-q"], {
    stdin: producer.stdout,
    stdout: "ignore",
    stderr: "ignore",
    env: { ...process.env, NO_COLOR: "1", ...clientEnv(paths) },
  });
  const out = reader.stdout.getReader();
  expect((await out.read()).done).toBe(false);
  sender.kill("SIGKILL");
  producer.kill("SIGKILL");
  expect(await exitOf(receiver)).toBe(1);
  expect(await new Response(receiver.stderr).text()).toContain(
    `written to ${fifo} are an incomplete, unverified stream`,
  );
  out.releaseLock();
  reader.kill();
});

describe("a read(2) or write(2) that fails mid-stream is said in words, with how far the stream got", () => {
  test("send /proc/self/mem (its read fails: EIO): not a raw 'read ...: EIO (Input/output error)'", async () => {
    const sender = guest(paths, ["send", "/proc/self/mem", "--channel", "eio", "--timeout", "5s", "--json"]);
    expect(await sender.exit()).toBe(1);
    await sender.events.finished;
    const { error } = JSON.parse(sender.events.lines.at(-1) ?? "");
    expect(error.code).toBe("SystemCall");
    expect(error.message).toBe(
      "Failed to read /proc/self/mem since an input/output error (EIO) after 0 B: the device or file system could not move the data (for a disk, see dmesg)",
    );
  });

  test("recv --out FILE past the process's file size limit (ulimit -f: EFBIG) names the limit", async () => {
    const input = outPath(paths, "efbig.in");
    await randomFile(input, 3 << 20);
    const output = outPath(paths, "efbig.out");
    const limited = ["sh", "-c", 'ulimit -f 1000 && exec "$@"', "sh", process.execPath, CLI, "guest", "recv"];
    const receiver = Bun.spawn([...limited, "--channel", "efbig", "--out", output], {
      stdout: "ignore",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1", ...clientEnv(paths) },
    });
    const said = new Response(receiver.stderr).text();
    const sender = guest(paths, ["send", "-q", "--channel", "efbig", input]);
    expect([await sender.exit(), await exitOf(receiver)]).toEqual([1, 1]);
    // The limit's unit is the shell's (512 or 1024 bytes): the size is a number of KiB either way.
    expect(await said).toContain(`Failed to write ${output} since the file would grow past the largest`);
    expect(await said).toMatch(
      /\(ulimit -f\), allows \(EFBIG\) after [\d.]+ KiB: choose another --out, or raise the limit/,
    );
  });
});

test("recv --out - | head -c 10: the bytes the reader's pipe took are counted, and said to be incomplete", async () => {
  const input = outPath(paths, "epipe.in");
  await randomFile(input, 8 << 20);
  // As a shell runs `ivsh guest recv | head -c 10`: head exits after 10 bytes, closing the pipe mid-chunk.
  const receiver = Bun.spawn(
    [
      "sh",
      "-c",
      '"$0" "$1" guest recv --channel epipe --out - | head -c 10 > /dev/null',
      process.execPath,
      CLI,
    ],
    {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1", ...clientEnv(paths) },
    },
  );
  const sender = guest(paths, ["send", "-q", "--channel", "epipe", input]);
  const stderr = await new Response(receiver.stderr).text();
  await receiver.exited;
  expect(await sender.exit()).toBe(1);
  // Before, "closed its end after 0 bytes", and no warning: the part of a chunk the pipe took was not counted.
  const after = /closed its end after (\d+) bytes, before the stream ended \(EPIPE\)/.exec(stderr);
  expect(after).not.toBeNull();
  expect(Number(after?.[1])).toBeGreaterThanOrEqual(10);
  expect(stderr).toContain(`the ${after?.[1]} bytes written to stdout are an incomplete, unverified stream`);
});

test("recv --out - into a socket whose reader stalls still hears SIGINT: exit 130, the bytes out said to be incomplete", async () => {
  const input = outPath(paths, "stalled-socket.in");
  await randomFile(input, 16 << 20);
  // As a socket-activated service or a program holding a socketpair runs it: stdout is a socket, never read.
  const [mine, theirs] = streamSocketPair();
  const receiver = tracked(
    Bun.spawn([process.execPath, CLI, "guest", "recv", "--channel", "stalled-socket", "--out", "-"], {
      stdin: "ignore",
      stdout: theirs,
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1", ...clientEnv(paths) },
    }),
  );
  closeFd(theirs);
  const stderr = new Response(receiver.stderr).text();
  const sender = guest(paths, ["send", "-q", "--channel", "stalled-socket", input]);
  try {
    // The socket's buffer (a few hundred KiB) holds data: the receiver writes, and soon stalls on it.
    await eventually(async () => isReady(mine, POLLIN, "the socket"), 20_000, "data on the socket");
    await Bun.sleep(500);
    receiver.kill("SIGINT");
    // Before, its write(2) blocked the event loop: the SIGINT was never heard (nor were its heartbeats).
    expect(await exitOrKill(receiver, EXIT_BOUND_MS)).toBe(130);
    expect(await stderr).toMatch(/bytes written to stdout are an incomplete, unverified stream/);
    expect(await sender.exit()).toBe(1);
  } finally {
    sender.proc.kill();
    closeFd(mine);
  }
});

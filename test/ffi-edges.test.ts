/**
 * src/ffi/index.ts's wrappers at the edges their callers rely on but rarely reach: errno's name from a
 * node:fs failure, mincore's and madvise's answers, a one-byte copy, EAGAIN and EINTR on reads and writes
 * (EINTR injected by strace on one path only), short writes to a pipe, the futex wait's timeout and
 * answers, the wake's add of one, a wake on a truncated page, and O_CLOEXEC on every descriptor opened.
 */
import { afterAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  addressOf,
  closeFd,
  copyMemory,
  fileStatus,
  futexBumpAndWake,
  futexWait,
  mapShared,
  O_CREAT,
  O_NONBLOCK,
  O_RDONLY,
  O_RDWR,
  O_WRONLY,
  openFile,
  PROT_READ,
  PROT_WRITE,
  populate,
  readInto,
  renameFile,
  residentPages,
  setNonBlocking,
  truncateFd,
  unmap,
  writeAll,
} from "../src/ffi/index.ts";
import { REPO, testPaths } from "./helpers/paths.ts";
import { EXIT_BOUND_MS, exitOrKill } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { straceUnusable, testUnless } from "./helpers/tools.ts";

const paths = testPaths("ffi-edges");
afterAll(() => paths.cleanup());
const PAGE = 4096;

/** A file of `pages` pages in /dev/shm, mapped shared read-write (or read-only). */
function mappedFile(name: string, pages: number, prot = PROT_READ | PROT_WRITE) {
  const path = join(paths.shmDir, name);
  const fd = openFile(path, O_RDWR | O_CREAT);
  truncateFd(fd, pages * PAGE, path);
  const base = mapShared(fd, pages * PAGE, prot, path);
  return { path, fd, base, words: new Uint32Array(viewBytes(base, pages * PAGE)) };
}

function viewBytes(base: number, length: number): ArrayBuffer {
  // Through bun:ffi as the library does: toArrayBuffer over the mapping.
  return require("bun:ffi").toArrayBuffer(base, 0, length);
}

test("a node:fs failure names errno by its name, not as a negative number", () => {
  const fd = openFile("/dev/null", O_RDONLY);
  closeFd(fd);
  expect(() => fileStatus(fd, "closed")).toThrow("fstat closed: EBADF");
  const missing = join(paths.dir, "missing");
  expect(() => renameFile(missing, `${missing}.2`)).toThrow(`rename ${missing} -> ${missing}.2: ENOENT`);
});

test("residentPages: a touched page of a tmpfs file is in memory, an untouched one is a hole", () => {
  const file = mappedFile("resident", 2);
  try {
    file.words[0] = 1;
    const pages = residentPages(file.base, 2 * PAGE);
    expect(pages && [...pages].map((page) => page & 1)).toEqual([1, 0]);
  } finally {
    unmap(file.base, 2 * PAGE, file.path);
    closeFd(file.fd);
  }
});

test("populate: a read-only mapping populated for reading, and a start not page-aligned is false", () => {
  const file = mappedFile("populate", 2);
  const readOnly = mapShared(file.fd, 2 * PAGE, PROT_READ, file.path);
  try {
    expect(populate(readOnly, 2 * PAGE, false, "read-only")).toBe(true);
    expect(populate(file.base + 1, PAGE, true, "misaligned")).toBe(false);
  } finally {
    unmap(readOnly, 2 * PAGE, file.path);
    unmap(file.base, 2 * PAGE, file.path);
    closeFd(file.fd);
  }
});

test("copyMemory copies a single byte", () => {
  const [source, destination] = [new Uint8Array([42]), new Uint8Array(1)];
  copyMemory(addressOf(destination), addressOf(source), 1);
  expect(destination[0]).toBe(42);
});

test("readInto: an empty non-blocking pipe says -1 (EAGAIN), not an error", () => {
  const fifo = join(paths.dir, "empty-fifo");
  Bun.spawnSync(["mkfifo", fifo]);
  const fd = openFile(fifo, O_RDWR | O_NONBLOCK);
  try {
    expect(readInto(fd, addressOf(new Uint8Array(16)), 16, fifo)).toBe(-1);
  } finally {
    closeFd(fd);
  }
});

test("writeAll into a non-blocking pipe: short writes and EAGAIN waited out, every byte once and in order", async () => {
  const fifo = join(paths.dir, "full-fifo");
  const out = join(paths.dir, "full-fifo.out");
  Bun.spawnSync(["mkfifo", fifo]);
  // The reader opens the pipe, then sleeps a moment: the writer finds it full (EAGAIN) at least once.
  const reader = tracked(
    Bun.spawn(["sh", "-c", `exec 3<"$1"; sleep 0.2; exec cat <&3 >"$2"`, "sh", fifo, out]),
  );
  const fd = openFile(fifo, O_WRONLY); // waits for the reader to open it
  const bytes = new Uint8Array(1 << 20).map((_, index) => (index * 7 + (index >> 12)) & 0xff);
  try {
    setNonBlocking(fd, true, fifo); // the pipe takes 64 KiB at a time: short writes, then EAGAIN
    writeAll(fd, addressOf(bytes), bytes.length, fifo);
  } finally {
    closeFd(fd);
  }
  expect(await exitOrKill(reader, EXIT_BOUND_MS)).toBe(0);
  expect(Buffer.compare(readFileSync(out), Buffer.from(bytes))).toBe(0);
});

test("futexWait: a word that holds another value is 'changed', one that keeps it 'timed-out'", () => {
  const word = new Uint32Array(1);
  const address = addressOf(word);
  word[0] = 7;
  expect(futexWait(address, 8, 1000)).toBe("changed");
  expect(futexWait(address, 7, 1)).toBe("timed-out");
});

test("futexBumpAndWake adds exactly one to the word, and a word whose page was truncated away wakes nobody", () => {
  const file = mappedFile("bump", 1);
  try {
    file.words[3] = 0xfffffffe;
    expect(futexBumpAndWake(file.base + 12, 1)).toBe(0);
    expect(file.words[3]).toBe(0xffffffff);
    truncateFd(file.fd, 0, file.path);
    expect(futexBumpAndWake(file.base + 12, 1)).toBe(0);
  } finally {
    unmap(file.base, PAGE, file.path);
    closeFd(file.fd);
  }
});

test("openFile's descriptors are close-on-exec: a child started meanwhile does not inherit them", () => {
  const fd = openFile("/dev/null", O_RDONLY);
  try {
    const flags = /flags:\s*([0-7]+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"))?.[1];
    expect(Number.parseInt(flags ?? "0", 8) & 0o2000000).toBe(0o2000000);
  } finally {
    closeFd(fd);
  }
});

/**
 * Runs `script` (given a file's path as argv[2]) in a child under strace with `options` (given the file's
 * path); returns what the child printed and what strace saw.
 */
async function underStrace(name: string, options: (file: string) => string[], script: string) {
  const file = join(paths.dir, `${name}.data`);
  writeFileSync(file, "abcdefgh");
  const log = join(paths.dir, `${name}.strace`);
  const scriptFile = join(paths.dir, `${name}.ts`);
  writeFileSync(scriptFile, script.replaceAll("FFI", JSON.stringify(join(REPO, "src/ffi/index.ts"))));
  const child = tracked(
    Bun.spawn(["strace", "-f", "-qq", "-o", log, ...options(file), process.execPath, scriptFile, file], {
      stdout: "pipe",
      stderr: "pipe",
    }),
  );
  const [stdout, stderr] = [new Response(child.stdout).text(), new Response(child.stderr).text()];
  const exit = await exitOrKill(child, EXIT_BOUND_MS);
  return { exit, stdout: await stdout, stderr: await stderr, log: readFileSync(log, "utf8") };
}

const noStrace = straceUnusable();

testUnless(noStrace, "readInto and readAt retry a read that EINTR interrupted", async () => {
  const script = `
    import { addressOf, openFile, O_RDONLY, readAt, readInto } from FFI;
    const fd = openFile(process.argv[2], O_RDONLY);
    const buffer = new Uint8Array(4);
    const got = readInto(fd, addressOf(buffer), 4, "file");
    const gotAt = readAt(fd, addressOf(buffer.subarray(2)), 2, 6, "file");
    console.log(JSON.stringify({ got, gotAt, text: new TextDecoder().decode(buffer) }));
  `;
  // -P: only the syscalls on that file are traced, and so failed once each.
  const inject = (file: string) => [
    "-P",
    file,
    "-e",
    "trace=read,pread64",
    "-e",
    "inject=read,pread64:error=EINTR:when=1",
  ];
  const run = await underStrace("eintr", inject, script);
  expect(run.log).toMatch(/read\(\d+, .*EINTR/);
  expect(run.log).toMatch(/pread64\(\d+, .*EINTR/);
  expect({ exit: run.exit, stdout: run.stdout.trim(), stderr: run.stderr }).toEqual({
    exit: 0,
    stdout: JSON.stringify({ got: 4, gotAt: 2, text: "abgh" }),
    stderr: "",
  });
});

testUnless(noStrace, "futexWait's timeout: whole seconds and the nanoseconds past them", async () => {
  const script = `
    import { addressOf, futexWait, mapShared, openFile, O_RDWR, PROT_READ, PROT_WRITE } from FFI;
    const fd = openFile(process.argv[2], O_RDWR);
    const base = mapShared(fd, 4096, PROT_READ | PROT_WRITE, "file");
    console.log(futexWait(base, 0x64636261, 1250));
  `;
  const run = await underStrace("futex-timeout", () => ["-e", "trace=futex"], script);
  expect({ exit: run.exit, stdout: run.stdout.trim() }).toEqual({ exit: 0, stdout: "timed-out" });
  expect(run.log).toMatch(/FUTEX_WAIT, 1684234849, \{tv_sec=1, tv_nsec=250000000\}/);
});

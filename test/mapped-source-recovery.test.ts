/**
 * The native copy's recovery from a file truncated under its mapping (src/ffi/native/fault.c), at its
 * edges: the fault at the source's first byte and in its last quarter, a second lost copy after a first
 * (the jump out of the first must leave SIGBUS unblocked and nothing armed), and a SIGSEGV in the source,
 * which is a bug in the caller and must not be taken for a lost file; a take part way into a chunk goes
 * through the same copy (src/transfer/chunk-writer.ts); the signal mask after a lost copy, on the main
 * thread and on a Worker's. Each case runs in its own process: a recovery that fails ends it.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./helpers/paths.ts";
import { EXIT_BOUND_MS, exitOrKill } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { testUnless } from "./helpers/tools.ts";

const dir = mkdtempSync(join("/tmp", "ivsh-mapped-recovery-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MIB = 1 << 20;

/** A script that maps `name` (4 MiB of 7s) read-only as `lost`, truncates it to `keep` bytes, then runs `body`. */
function script(name: string, keep: number, body: string[]): string {
  const file = JSON.stringify(join(dir, name));
  return [
    'import { openSync, truncateSync, writeFileSync } from "node:fs";',
    `import { mapShared, PROT_READ, reserve, viewOf } from ${JSON.stringify(join(REPO, "src/ffi/index.ts"))};`,
    `import { StreamDigest } from ${JSON.stringify(join(REPO, "src/transfer/digest.ts"))};`,
    `writeFileSync(${file}, new Uint8Array(${4 * MIB}).fill(7));`,
    `const lost = new Uint8Array(viewOf(mapShared(openSync(${file}, "r"), ${4 * MIB}, PROT_READ, ${file}), ${4 * MIB}));`,
    `truncateSync(${file}, ${keep});`,
    "const digest = new StreamDigest();",
    "const copy = (source) => digest.copyFromFile(new Uint8Array(source.byteLength), source);",
    ...body,
  ].join("\n");
}

async function run(source: string, before: string[] = []) {
  const command = [...before, process.execPath, "-e", source];
  const child = tracked(Bun.spawn(command, { stdout: "pipe", stderr: "pipe" }));
  const said = Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
  const code = await exitOrKill(child, EXIT_BOUND_MS);
  const [stdout, stderr] = await said;
  return { code, stdout, stderr };
}

test("a file truncated to nothing: the fault at the source's first byte is survived", async () => {
  const body = [
    "console.log(JSON.stringify({ usable: digest.copiesFromFiles, copied: copy(lost), bytes: digest.bytes }));",
  ];
  const { code, stdout, stderr } = await run(script("empty.bin", 0, body));
  expect([code, stdout], stderr).toEqual([
    0,
    `${JSON.stringify({ usable: true, copied: false, bytes: 0 })}\n`,
  ]);
});

test("a file truncated in the source's last quarter: that fault is survived too (the whole source is armed)", async () => {
  const body = ["console.log(JSON.stringify({ copied: copy(lost), bytes: digest.bytes }));"];
  const { code, stdout, stderr } = await run(script("tail.bin", 3 * MIB + 4096, body));
  expect([code, stdout], stderr).toEqual([0, `${JSON.stringify({ copied: false, bytes: 0 })}\n`]);
});

test("two lost copies in a row both fail cleanly; a fault outside any copy then still ends the process", async () => {
  const body = [
    "const first = copy(lost);",
    "const second = copy(lost.subarray(2 << 20));",
    "console.log(JSON.stringify({ first, second, bytes: digest.bytes }));",
    // Nothing is left armed by the failed copies: this read dies of SIGBUS (128 + 7), as with no copy made.
    "console.log(lost[3 << 20]);",
  ];
  const { code, stdout, stderr } = await run(script("twice.bin", MIB, body));
  expect([code, stdout], stderr).toEqual([
    135,
    `${JSON.stringify({ first: false, second: false, bytes: 0 })}\n`,
  ]);
});

test("a SIGSEGV inside the copy's source (a caller's bug, not a lost file) is not survived", async () => {
  const body = [
    // Reserved memory: no access at all. Reading it faults with SIGSEGV, which only a file's loss may not do.
    `const unreadable = new Uint8Array(viewOf(reserve(${4 * MIB}, "unreadable"), ${4 * MIB}));`,
    "console.log(JSON.stringify({ survived: copy(unreadable) }));",
  ];
  const { code, stdout } = await run(script("segv.bin", 4 * MIB, body));
  expect(stdout).toBe("");
  expect(code).not.toBe(0);
});

test("a lost file's bytes taken part way into a chunk: the take fails with SourceChanged, the process lives", async () => {
  const body = [
    `const { ChunkWriter } = await import(${JSON.stringify(join(REPO, "src/transfer/chunk-writer.ts"))});`,
    "const writer = new ChunkWriter(digest);",
    `const chunk = new Uint8Array(${4 * MIB});`,
    `const first = writer.take(chunk, new Uint8Array(${MIB}), true);`,
    "let code;",
    "try { writer.take(chunk, lost.subarray(0, 2 << 20), true); } catch (error) { code = error.code; }",
    "console.log(JSON.stringify({ first, code }));",
  ];
  const { code, stdout, stderr } = await run(script("midchunk.bin", 0, body));
  expect([code, stdout], stderr).toEqual([0, `${JSON.stringify({ first: MIB, code: "SourceChanged" })}\n`]);
});

/** env's option that starts a command with signals blocked (GNU coreutils 9), or why it cannot. */
const BLOCKING = ["env", "--block-signal=HUP,USR1"];
const cannotBlock =
  Bun.spawnSync([...BLOCKING, "true"]).exitCode === 0
    ? undefined
    : "env --block-signal is not here (GNU coreutils 9 has it): cannot start bun with signals blocked";

/** SIGHUP and SIGUSR1, as /proc's SigBlk shows a thread's mask (bit N - 1 for signal N). */
const HUP_USR1 = ((1n << 0n) | (1n << 9n)).toString(16).padStart(16, "0");

for (const where of ["main", "worker"] as const)
  testUnless(
    cannotBlock,
    `a lost copy on the ${where} thread leaves its signal mask as it was: SIGBUS unblocked, the caller's blocked kept`,
    async () => {
      // The jump out of the handler leaves SIGBUS blocked (the kernel added it for the handler) and the
      // mask is not saved per copy: the recovery unblocks SIGBUS alone, not every signal.
      const body = [
        'const { readFileSync: status } = await import("node:fs");',
        'const mask = () => /SigBlk:\\s*(\\S+)/.exec(status("/proc/thread-self/status", "utf8"))[1];',
        "const before = mask();",
        "const copied = copy(lost);",
        "console.log(JSON.stringify({ before, copied, after: mask() }));",
      ];
      const source = script(`mask-${where}.bin`, MIB, body);
      // On a Worker: the same script as its module, the copy then made on the Worker's own thread.
      const worker = join(dir, "mask-worker.ts");
      if (where === "worker") writeFileSync(worker, source);
      const started = where === "main" ? source : `new Worker(${JSON.stringify(worker)});`;
      const { code, stdout, stderr } = await run(started, BLOCKING);
      expect([code, stdout], stderr).toEqual([
        0,
        `${JSON.stringify({ before: HUP_USR1, copied: false, after: HUP_USR1 })}\n`,
      ]);
    },
  );

/**
 * Transfers as users run them (docs/bench/README.md, "End to end"): whole processes, a file in /dev/shm as
 * the source, next to what they would type instead; ivsh compiled when it can (`bun` would transpile).
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { open as openFile } from "node:fs/promises";
import { join, sep } from "node:path";
import { removeFile } from "../remove-file.ts";
import { isCompiled, selfCommand } from "../self.ts";
import type { BenchArbiter } from "./arbiter.ts";
import { benchDirectory, type Child, startChild, withChildren } from "./child.ts";
import { writeFailure } from "./output.ts";
import { rotate } from "./plan.ts";
import { middleSample } from "./stats.ts";
import { SOCAT_RETRY } from "./stream.ts";
import type { TransferSamples } from "./suite-data.ts";

const SMALL_FILE_BYTES = 1024;
/** The 1 KiB rows are a few milliseconds each: every round takes the median of this many. */
const SMALL_RUNS_PER_ROUND = 5;
const SOCAT_BUFFER = ["-b", String(1 << 20)];
/** A liveness bound, far above any run here: a method that takes longer is stuck, and is ended. */
const RUN_BOUND_MS = 120_000;

const END_TO_END_LABELS = {
  "ivsh-null": "ivsh guest send FILE → ivsh guest recv --out /dev/null",
  "socat-null": "socat FILE → Unix socket → /dev/null",
  "cat-socat-null": "cat FILE | socat → Unix socket → /dev/null",
  dd: "dd if=FILE of=/dev/null bs=1M (one read of the file)",
  "ivsh-file": "ivsh guest send FILE → ivsh guest recv --out NEW_FILE",
  "socat-file": "socat FILE → Unix socket → NEW_FILE",
  "ivsh-small": "ivsh, a 1 KiB FILE → NEW_FILE",
  "socat-small": "socat, a 1 KiB FILE → NEW_FILE",
} as const;
export type EndToEndMethod = keyof typeof END_TO_END_LABELS;

export type EndToEndSetup = Awaited<ReturnType<typeof prepareEndToEnd>>;

/** Writes the source files (random bytes) to /dev/shm and finds the binary to run. */
export async function prepareEndToEnd(arbiter: BenchArbiter, bytes: number) {
  const { path: dir, remove } = benchDirectory("/dev/shm", "e2e");
  const file = join(dir, "file");
  const small = join(dir, "small");
  await writeRandom(file, bytes);
  await writeRandom(small, SMALL_FILE_BYTES);
  const built = join(import.meta.dir, "../../dist/ivsh");
  const usable = !isCompiled() && existsSync(built) && !olderThanSources(built);
  const ivsh = usable ? [built] : selfCommand();
  return {
    dir,
    file,
    bytes,
    small,
    ivsh,
    env: { IVSH_SOCKET: arbiter.socket, IVSH_REGION: arbiter.region },
    socat: Bun.which("socat") !== null,
    // Which binary the ivsh rows ran, for the report.
    binary: usable || isCompiled() ? "the compiled binary" : `${ivsh.join(" ")} (${noBinary()})`,
    remove,
  };
}

/** Why the rows run the sources: an installed package has no build script to make dist/ivsh with. */
function noBinary(): string {
  return import.meta.dir.split(sep).includes("node_modules")
    ? "an installed package has no compiled dist/ivsh: `npm run build` in a checkout of ivsh makes one"
    : "no up-to-date dist/ivsh: run `npm run build` first";
}

function olderThanSources(binary: string): boolean {
  const built = statSync(binary).mtimeMs;
  const sources = join(import.meta.dir, "..");
  return readdirSync(sources, { recursive: true }).some(
    (name) => statSync(join(sources, String(name))).mtimeMs > built,
  );
}

/** Writes `bytes` random bytes to `path` (`each` sees every piece), each write awaited: one error, named. */
export async function writeRandom(path: string, bytes: number, each?: (piece: Uint8Array) => void) {
  const piece = new Uint8Array(Math.min(bytes, 1 << 20));
  const file = await openFile(path, "w").catch((error) => {
    throw writeFailure(path, error);
  });
  try {
    for (let written = 0; written < bytes; written += piece.byteLength) {
      for (let at = 0; at < piece.byteLength; at += 65536)
        crypto.getRandomValues(piece.subarray(at, at + 65536));
      const part = piece.subarray(0, Math.min(piece.byteLength, bytes - written));
      each?.(part);
      for (let done = 0; done < part.byteLength; )
        done += (await file.write(part, done, part.byteLength - done)).bytesWritten;
    }
  } catch (error) {
    throw writeFailure(path, error);
  } finally {
    await file.close();
  }
}

export function emptyEndToEndSamples(bytes: number): Record<EndToEndMethod, TransferSamples> {
  const samples = {} as Record<EndToEndMethod, TransferSamples>;
  for (const [method, label] of Object.entries(END_TO_END_LABELS) as [EndToEndMethod, string][]) {
    const small = method.endsWith("small");
    samples[method] = { label, seconds: [], bytes: small ? SMALL_FILE_BYTES : bytes };
  }
  return samples;
}

/** One round: every method once (the 1 KiB ones SMALL_RUNS_PER_ROUND times), in rotating order. */
export async function measureEndToEndRound(
  setup: EndToEndSetup,
  round: number,
  samples: Record<EndToEndMethod, TransferSamples>,
): Promise<void> {
  for (const method of rotate(Object.keys(END_TO_END_LABELS) as EndToEndMethod[], round)) {
    if ((method.startsWith("socat") || method.startsWith("cat")) && !setup.socat) {
      samples[method] = { ...samples[method], unavailable: "socat is not installed" };
      continue;
    }
    const runs = method.endsWith("small") ? SMALL_RUNS_PER_ROUND : 1;
    const times: number[] = [];
    for (let run = 0; run < runs; run++) times.push(await measureOnce(setup, method));
    samples[method].seconds.push(middleSample(times));
  }
}

async function measureOnce(setup: EndToEndSetup, method: EndToEndMethod): Promise<number> {
  const out = join(setup.dir, "out");
  const socket = join(setup.dir, "socat.sock");
  removeFile(out);
  removeFile(socket);
  const source = method.endsWith("small") ? setup.small : setup.file;
  const target = method.endsWith("null") || method === "dd" ? "/dev/null" : out;
  if (target === out) await warmPages(out, method.endsWith("small") ? SMALL_FILE_BYTES : setup.bytes);
  const began = performance.now();
  await runToEnd(END_TO_END_LABELS[method], (children) => {
    if (method.startsWith("ivsh"))
      startIvsh(children, [setup.ivsh, setup.env], [source, target], ["--channel", "bench-e2e"]);
    else if (method === "dd")
      startChild(children, ["dd", `if=${source}`, "of=/dev/null", "bs=1M", "status=none"], "dd");
    else startSocat(children, method, source, target, socket);
  });
  const seconds = (performance.now() - began) / 1000;
  removeFile(out);
  return seconds;
}

/**
 * Writes and removes a file as large as the output, untimed: otherwise the first method after a pause got
 * pages the hypervisor had taken back (free page reporting), 3× slower.
 */
async function warmPages(path: string, bytes: number): Promise<void> {
  const megabytes = Math.max(1, Math.ceil(bytes / (1 << 20)));
  const dd = ["dd", "if=/dev/zero", `of=${path}`, "bs=1M", `count=${megabytes}`, "status=none"];
  await runToEnd("dd (warming the pages of the output)", (children) => startChild(children, dd, "dd"));
  removeFile(path);
}

/** `ivsh guest recv --out TARGET` and `ivsh guest send SOURCE` as a user runs them (the demo too). */
export function startIvsh(
  children: Child[],
  [ivsh, env]: readonly [readonly string[], Record<string, string>],
  [source, target]: readonly [string, string],
  flags: readonly string[],
): [receiver: Child, sender: Child] {
  return [
    startChild(children, [...ivsh, "guest", "recv", ...flags, "--out", target], "ivsh receiver", env),
    startChild(children, [...ivsh, "guest", "send", source, ...flags], "ivsh sender", env),
  ];
}

/** Both socat ends start at once; the sender retries until the receiver listens, and that wait counts. */
function startSocat(
  children: Child[],
  method: EndToEndMethod,
  source: string,
  target: string,
  socket: string,
) {
  const sink = target === "/dev/null" ? "OPEN:/dev/null" : `CREATE:${target}`;
  const connect = `UNIX-CONNECT:${socket}${SOCAT_RETRY}`;
  startChild(children, ["socat", "-u", ...SOCAT_BUFFER, `UNIX-LISTEN:${socket}`, sink], "socat receiver");
  if (method === "cat-socat-null") {
    const pipeline = `cat "$0" | socat -u ${SOCAT_BUFFER.join(" ")} STDIN "$1"`;
    startChild(children, ["sh", "-c", pipeline, source, connect], "cat | socat");
  } else startChild(children, ["socat", "-u", ...SOCAT_BUFFER, `OPEN:${source}`, connect], "socat sender");
}

/** Runs what `start` starts until all exit; the first failure (or the bound) ends the others. */
async function runToEnd(what: string, start: (children: Child[]) => void): Promise<void> {
  await withChildren(`run '${what}'`, RUN_BOUND_MS, async (children) => {
    start(children);
    await Promise.all(children.map((child) => child.finish()));
  });
}

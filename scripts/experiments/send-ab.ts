/**
 * Interleaved A/B of whole transfers as users run them: each round times one `dd` read of FILE, then, for
 * every ivsh binary given, `guest recv --out /dev/null` and `guest send FILE` started together until both
 * exit (the order of the binaries rotates per round). Prints the median per method and its ratio to dd's
 * median: issue 12's "within 1.5× of one dd read", with two builds side by side on the same minutes.
 *
 *   bun scripts/experiments/send-ab.ts FILE ROUNDS BINARY [BINARY...]
 *   e.g. head -c 2G /dev/urandom > /dev/shm/f; bun scripts/experiments/send-ab.ts /dev/shm/f 15 /tmp/old dist/ivsh
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";

const [file, roundsText, ...binaries] = process.argv.slice(2);
if (!file || binaries.length === 0) throw new Error("usage: send-ab.ts FILE ROUNDS BINARY [BINARY...]");
const rounds = Number(roundsText);
const dir = mkdtempSync("/dev/shm/ivsh-send-ab-");
const env = { ...process.env, IVSH_SOCKET: join(dir, "arbiter.sock"), IVSH_REGION: join(dir, "region") };
const arbiter = Bun.spawn(
  [
    ...[binaries[0]!, "host", "--exit-with-parent", "--size", "256MiB", "--state", join(dir, "state")],
    ...["--region", env.IVSH_REGION, "--socket", env.IVSH_SOCKET],
  ],
  { env, stdout: "ignore", stderr: "ignore" },
);

async function run(command: string[]): Promise<void> {
  const child = Bun.spawn(command, { env, stdout: "ignore", stderr: "pipe" });
  const stderr = new Response(child.stderr).text();
  if ((await child.exited) !== 0) throw new Error(`${command.join(" ")}: ${await stderr}`);
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;

try {
  while (!existsSync(env.IVSH_SOCKET)) await Bun.sleep(20);
  const times = new Map<string, number[]>([
    ["dd", []],
    ...binaries.map((bin): [string, number[]] => [bin, []]),
  ]);
  for (let round = 0; round < rounds; round++) {
    times
      .get("dd")!
      .push(await timed(() => run(["dd", `if=${file}`, "of=/dev/null", "bs=1M", "status=none"])));
    for (let at = 0; at < binaries.length; at++) {
      const bin = binaries[(at + round) % binaries.length]!;
      const receive = [bin, "guest", "recv", "--channel", "ab", "--out", "/dev/null", "-q"];
      const send = [bin, "guest", "send", file, "--channel", "ab", "-q"];
      times.get(bin)!.push(await timed(() => Promise.all([run(receive), run(send)])));
    }
  }
  const dd = median(times.get("dd")!);
  for (const [method, values] of times)
    console.log(
      `${method.padEnd(24)} median ${median(values).toFixed(0)} ms, ${(median(values) / dd).toFixed(2)}× dd; ` +
        `all ${values.map((value) => value.toFixed(0)).join(" ")}`,
    );
} finally {
  arbiter.kill();
  await arbiter.exited;
  rmSync(dir, { recursive: true, force: true });
}

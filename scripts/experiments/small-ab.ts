/**
 * Issue 12's 1 KiB goal as an interleaved A/B: each round moves a 1 KiB file into a new file with socat
 * over a Unix socket and with every ivsh binary given (`guest recv --out NEW_FILE` + `guest send FILE`),
 * both processes started together with Bun.spawn and timed until both exit, in an order that rotates per
 * round. Prints each method's median and its ratio to socat's median in the same run, and the median CPU
 * time of both processes (user + system), which a busy machine disturbs less than the wall time.
 *
 *   npm run build && cp dist/ivsh /tmp/base-ivsh   # ... change, rebuild ...
 *   bun scripts/experiments/small-ab.ts ROUNDS /tmp/base-ivsh dist/ivsh
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";

const [roundsText, ...binaries] = process.argv.slice(2);
if (binaries.length === 0) throw new Error("usage: small-ab.ts ROUNDS BINARY [BINARY...]");
const rounds = Number(roundsText);
const dir = mkdtempSync("/dev/shm/ivsh-small-ab-");
const env = { ...process.env, IVSH_SOCKET: join(dir, "arbiter.sock"), IVSH_REGION: join(dir, "region") };
const file = join(dir, "small");
const out = join(dir, "out");
await Bun.write(file, crypto.getRandomValues(new Uint8Array(1024)));
const arbiter = Bun.spawn(
  [
    ...[binaries[0]!, "host", "--exit-with-parent", "--size", "64MiB", "--state", join(dir, "state")],
    ...["--region", env.IVSH_REGION, "--socket", env.IVSH_SOCKET],
  ],
  { env, stdout: "ignore", stderr: "ignore" },
);

const socket = join(dir, "socat.sock");
const pairs = new Map<string, string[][]>([
  [
    "socat",
    [
      ["socat", "-u", "-b1048576", `UNIX-LISTEN:${socket}`, `CREATE:${out}`],
      ["socat", "-u", "-b1048576", `OPEN:${file}`, `UNIX-CONNECT:${socket},retry=1000,interval=0.001`],
    ],
  ],
  ...binaries.map((bin, at): [string, string[][]] => [
    `${at}:${bin}`,
    [
      [bin, "guest", "recv", "--channel", "ab", "--out", out],
      [bin, "guest", "send", file, "--channel", "ab"],
    ],
  ]),
]);

/** CPU time (user + system) of both processes of the last pair, ms: less sensitive to a busy machine. */
let lastCpu = 0;

async function pair(commands: string[][]): Promise<number> {
  rmSync(out, { force: true });
  rmSync(socket, { force: true });
  const began = performance.now();
  const children = commands.map((command) => Bun.spawn(command, { env, stdout: "pipe", stderr: "pipe" }));
  const codes = await Promise.all(children.map((child) => child.exited));
  const took = performance.now() - began;
  if (codes.some((code) => code !== 0))
    throw new Error(
      `${commands[1]!.join(" ")}: exit ${codes}: ${await new Response(children[1]!.stderr).text()}`,
    );
  lastCpu =
    children.reduce((sum, child) => sum + Number(child.resourceUsage()?.cpuTime.total ?? 0), 0) / 1000;
  return took;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;

try {
  while (!existsSync(env.IVSH_SOCKET)) await Bun.sleep(20);
  const names = [...pairs.keys()];
  const times = new Map(names.map((name): [string, number[]] => [name, []]));
  const cpu = new Map(names.map((name): [string, number[]] => [name, []]));
  for (let round = 0; round < rounds; round++)
    for (let at = 0; at < names.length; at++) {
      const name = names[(at + round) % names.length]!;
      times.get(name)!.push(await pair(pairs.get(name)!));
      cpu.get(name)!.push(lastCpu);
    }
  const socat = median(times.get("socat")!);
  for (const [name, values] of times)
    console.log(
      `${name.padEnd(28)} median ${median(values).toFixed(2)} ms, ${(median(values) / socat).toFixed(2)}× socat ` +
        `(fastest ${Math.min(...values).toFixed(2)}, ${values.length} rounds); ` +
        `CPU of both median ${median(cpu.get(name)!).toFixed(2)} ms`,
    );
} finally {
  arbiter.kill();
  await arbiter.exited;
  rmSync(dir, { recursive: true, force: true });
}

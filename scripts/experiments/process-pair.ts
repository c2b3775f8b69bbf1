/**
 * The floor under issue 12's 1 KiB goal: two processes started together and timed until both exit, as
 * `ivsh bench` times its end-to-end rows (Bun.spawn, both awaited), median of RUNS. `bun` runs a compiled
 * Bun program that prints one line, twice; `socat` moves a 1 KiB file through a Unix socket as the bench's
 * socat row does; `ivsh` moves it with dist/ivsh (an arbiter of its own). Figures in docs/bench/transfer-path.md.
 *
 *   npm run build && bun scripts/experiments/process-pair.ts [bun|socat|ivsh] [RUNS=21]
 *
 * IVSH_BIN=PATH times another ivsh binary (an A/B of two builds, run interleaved).
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";

const what = process.argv[2] ?? "bun";
const runs = Number(process.argv[3] ?? 21);
const dir = mkdtempSync("/dev/shm/ivsh-pair-");
let arbiter: ReturnType<typeof Bun.spawn> | undefined;
const ivsh = process.env.IVSH_BIN ?? join(import.meta.dir, "../../dist/ivsh");
try {
  await Bun.write(join(dir, "small"), crypto.getRandomValues(new Uint8Array(1024)));
  await Bun.write(join(dir, "trivial.ts"), 'console.log("1");\n');
  await Bun.$`bun build --compile --bytecode ${join(dir, "trivial.ts")} --outfile ${join(dir, "trivial")}`.quiet();
  arbiter =
    what === "ivsh"
      ? Bun.spawn(
          [
            ivsh,
            "host",
            "--region",
            join(dir, "region"),
            "--size",
            "64MiB",
            "--socket",
            join(dir, "a.sock"),
            "--state",
            join(dir, "state"),
          ],
          { stderr: "ignore" },
        )
      : undefined;
  while (arbiter && !existsSync(join(dir, "a.sock"))) await Bun.sleep(10);
  const env = { ...process.env, IVSH_SOCKET: join(dir, "a.sock"), IVSH_REGION: join(dir, "region") };
  const out = join(dir, "out");
  const pair: Record<string, string[][]> = {
    bun: [[join(dir, "trivial")], [join(dir, "trivial")]],
    socat: [
      ["socat", "-u", "-b1048576", `UNIX-LISTEN:${dir}/s.sock`, `CREATE:${out}`],
      [
        "socat",
        "-u",
        "-b1048576",
        `OPEN:${dir}/small`,
        `UNIX-CONNECT:${dir}/s.sock,retry=1000,interval=0.001`,
      ],
    ],
    ivsh: [
      [ivsh, "guest", "recv", "--channel", "pair", "--out", out],
      [ivsh, "guest", "send", join(dir, "small"), "--channel", "pair"],
    ],
  };
  const times: number[] = [];
  for (let run = 0; run < runs; run++) {
    rmSync(out, { force: true });
    rmSync(join(dir, "s.sock"), { force: true });
    const began = performance.now();
    const children = pair[what]!.map((command) =>
      Bun.spawn(command, { env, stdout: "pipe", stderr: "pipe" }),
    );
    const codes = await Promise.all(children.map((child) => child.exited));
    times.push(performance.now() - began);
    if (codes.some((code) => code !== 0)) throw new Error(`${what}: exit codes ${codes.join(", ")}`);
  }
  times.sort((a, b) => a - b);
  console.log(
    `${what}: median ${times[runs >> 1]!.toFixed(2)} ms, fastest ${times[0]!.toFixed(2)} ms (${runs} runs)`,
  );
} finally {
  arbiter?.kill();
  rmSync(dir, { recursive: true, force: true });
}

/**
 * The platform's floor under the scale benchmark's shape, without ivsh: a Bun Unix-socket echo server
 * (one process) and N client processes holding C connections each, sending 32-byte requests open loop at
 * a total rate, one outstanding per connection, timing each round trip from when it was due (as the
 * benchmark does). Compare its p99 with
 * `ivsh bench --scale` on the same machine (docs/bench/scale.md).
 *
 *   bun scripts/experiments/echo-floor.ts [processes=10] [connections=100] [rate=4000] [seconds=20]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [role] = process.argv.slice(2);
if (role === "server") serve(process.argv[3]!);
else if (role === "client")
  await client(process.argv[3]!, Number(process.argv[4]), Number(process.argv[5]), Number(process.argv[6]));
else await main();

function serve(path: string): void {
  Bun.listen({ unix: path, socket: { data: (socket, bytes) => void socket.write(bytes) } });
}

async function client(path: string, connections: number, rate: number, seconds: number): Promise<void> {
  const sockets = await Promise.all(
    Array.from({ length: connections }, async () => {
      const entry = { busy: false, started: 0, socket: undefined as unknown as import("bun").Socket };
      entry.socket = await Bun.connect({
        unix: path,
        socket: {
          data: () => {
            latencies.push(Math.round((performance.now() - entry.started) * 1000));
            entry.busy = false;
          },
        },
      });
      return entry;
    }),
  );
  const latencies: number[] = [];
  const payload = new Uint8Array(32);
  process.stdout.write("ready\n");
  await new Promise((resolve) => process.once("SIGUSR1", resolve));
  const start = performance.now();
  for (let issued = 0; issued * (1000 / rate) < seconds * 1000; issued++) {
    const wait = start + issued * (1000 / rate) - performance.now();
    if (wait > 1) await Bun.sleep(wait);
    const idle =
      sockets.find((entry) => !entry.busy && Math.random() < 0.5) ?? sockets.find((entry) => !entry.busy);
    if (!idle) continue;
    idle.busy = true;
    // From when it was due, as the scale benchmark times its requests.
    idle.started = Math.min(start + issued * (1000 / rate), performance.now());
    idle.socket.write(payload);
  }
  await Bun.sleep(200);
  process.stdout.write(`${JSON.stringify(latencies)}\n`);
  process.exit(0);
}

async function main(): Promise<void> {
  const [processes = 10, connections = 100, rate = 4000, seconds = 20] = process.argv.slice(2).map(Number);
  const dir = mkdtempSync(join(tmpdir(), "echo-floor-"));
  const path = join(dir, "sock");
  const self = [process.execPath, import.meta.path];
  const server = Bun.spawn([...self, "server", path]);
  await Bun.sleep(300);
  const clients = Array.from({ length: processes }, () =>
    Bun.spawn([...self, "client", path, String(connections), String(rate / processes), String(seconds)], {
      stdout: "pipe",
    }),
  );
  const readers = clients.map((child) => child.stdout.getReader());
  const decoder = new TextDecoder();
  const lines = readers.map(async (reader) => {
    let text = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return text;
      text += decoder.decode(value);
    }
  });
  await Bun.sleep(1500 + processes * 100);
  for (const child of clients) child.kill("SIGUSR1");
  const all = (await Promise.all(lines)).flatMap((text) => JSON.parse(text.split("\n")[1]!) as number[]);
  server.kill();
  rmSync(dir, { recursive: true, force: true });
  all.sort((a, b) => a - b);
  const at = (q: number) => all[Math.min(all.length - 1, Math.floor(q * all.length))]!;
  console.log(
    `echo floor: ${processes} processes × ${connections} connections, ${rate}/s for ${seconds} s: ` +
      `${all.length} round trips, p50 ${at(0.5)} µs, p99 ${at(0.99)} µs, max ${all.at(-1)} µs`,
  );
}

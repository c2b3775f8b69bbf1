/** Helpers for transfer tests: random files, and `ivsh guest send/recv` processes aimed at one arbiter. */
import { join } from "node:path";
import { CLI, type TestPaths } from "./paths.ts";
import { type Spawned, spawnBun } from "./processes.ts";

export async function randomFile(path: string, bytes: number): Promise<Uint8Array> {
  const data = new Uint8Array(bytes);
  for (let offset = 0; offset < bytes; offset += 65536)
    crypto.getRandomValues(data.subarray(offset, Math.min(bytes, offset + 65536)));
  await Bun.write(path, data);
  return data;
}

export function clientEnv(paths: TestPaths): Record<string, string> {
  return { IVSH_SOCKET: paths.socket, IVSH_REGION: paths.region };
}

export function guest(paths: TestPaths, args: string[], env: Record<string, string> = {}): Spawned {
  return spawnBun([CLI, "guest", ...args], { ...clientEnv(paths), ...env });
}

/** Waits until `path` holds at least `bytes` bytes (a receiver is making progress). */
export async function waitForSize(path: string, bytes: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await Bun.file(path).exists()) && Bun.file(path).size >= bytes) return;
    await Bun.sleep(20);
  }
  throw new Error(`${path} did not reach ${bytes} bytes within ${timeoutMs} ms`);
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Bun.hash.xxHash3(a) === Bun.hash.xxHash3(b);
}

export function outPath(paths: TestPaths, name: string): string {
  return join(paths.dir, name);
}

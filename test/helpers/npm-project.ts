/**
 * A user's new project for the package tests: the commands run as the user runs them (a PATH without
 * Bun), and the user's script that type-checks and runs against the installed library.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./paths.ts";

export const TSC = join(REPO, "node_modules/.bin/tsc");
/** A PATH as a user's machine has it: system directories, no node_modules/.bin, so no `bun`. */
export const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
export const INSTALL_MS = 120_000;

export const USER_SCRIPT = `import { type CondVar, connect, isIvshError, type Mutex, type Segment } from "ivsh";
import { ChannelReceiver, ChannelSender, type TransferSummary } from "ivsh/channel";
import { shm_uid } from "ivsh/shm";

const client = await connect();
const other = await connect();
const receiving = (async () => {
  const receiver = await ChannelReceiver.open(other, "pkg-channel");
  let received = 0;
  while ((await receiver.receive((chunk) => { received += chunk.byteLength; })) !== undefined) {}
  await receiver.close();
  return received;
})();
const sender = await ChannelSender.open(client, "pkg-channel");
await sender.write(new TextEncoder().encode("through the ring"));
const summary: TransferSummary = await sender.finish();
await sender.close();
console.log(\`channel: sent \${summary.bytes}, received \${await receiving}\`);
const board: Segment = await client.alloc(4096, { name: "pkg-board", mode: "write" });
const lock: Mutex = await client.mutex("pkg-lock");
const ready: CondVar = await client.condvar("pkg-ready");
await lock.lock();
board.bytes[0] = 42;
lock.unlock();
await ready.acquire();
ready.notify();
ready.release();
try {
  await client.open("no-such-segment");
} catch (error) {
  if (isIvshError(error)) console.log(\`open refused: \${error.code}\`);
}
console.log(\`wrote \${board.bytes[0]} as client \${client.clientId}; shm_uid is a \${typeof shm_uid}\`);
// No client.close(): the script must still end once its work is done.
`;

/** Runs a command as the user would; one that has not exited within the bound is killed and says so. */
export async function run(
  command: string[],
  options: { cwd: string; env?: Record<string, string>; boundMs?: number },
) {
  const proc = Bun.spawn(command, {
    cwd: options.cwd,
    stdout: "pipe",
    stderr: "pipe",
    env: { HOME: process.env.HOME ?? "/root", PATH: SYSTEM_PATH, NO_COLOR: "1", ...options.env },
  });
  const boundMs = options.boundMs ?? INSTALL_MS;
  const timer = setTimeout(() => proc.kill("SIGKILL"), boundMs);
  const [exitCode, stdout, stderr] = await Promise.all([
    proc.exited,
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
  ]);
  clearTimeout(timer);
  const killed = proc.signalCode === "SIGKILL" ? `\n(did not exit within ${boundMs} ms: killed)` : "";
  return { exitCode, stdout, stderr, output: `${stdout}${stderr}${killed}` };
}

/**
 * `npm pack` of this checkout with `args`, one at a time: its prepack (scripts/types.mjs --force) removes
 * and rewrites the checkout's types/, so two package test files run at once (`bun test --parallel`, two
 * runners in one worktree) packed each other's types/ half-written: npm failed with ENOENT on a .d.ts,
 * or packed an empty one and the user's tsc said "is not a module". flock(1) holds scripts/types.mjs
 * locked for the whole pack (a lock on a file that is always there: none left behind).
 */
export function packCheckout(args: string[]) {
  return run(["flock", join(REPO, "scripts/types.mjs"), "npm", "pack", ...args], { cwd: REPO });
}

/** A new project under `parent` whose app.ts is the user's script. */
export function newProject(parent: string, name: string): string {
  const dir = join(parent, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name, private: true, type: "module" }));
  writeFileSync(join(dir, "app.ts"), USER_SCRIPT);
  return dir;
}

/** One guest's try through an `ivsh bridge` process, as QEMU's guestfwd starts one per connection. */
import { CLI } from "./paths.ts";
import { exitOrKill } from "./processes.ts";
import { tracked } from "./reaper.ts";

/**
 * An `ivsh bridge --vm VM --socket SOCKET` relaying through pipes whose guest leaves at once, its marker
 * directory under `tmpDir` (TMPDIR); its exit code ("late" past the liveness bound) and stderr.
 */
export async function bridgeTry(
  socket: string,
  tmpDir: string,
  vm: string,
): Promise<{ code: number | "late"; stderr: string }> {
  const bridge = tracked(
    Bun.spawn([process.execPath, CLI, "bridge", "--vm", vm, "--socket", socket], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, TMPDIR: tmpDir, NO_COLOR: "1" },
    }),
  );
  void bridge.stdin.end();
  const stderr = new Response(bridge.stderr).text();
  const code = await exitOrKill(bridge, 30_000);
  return { code, stderr: await stderr };
}

/** Code run as another user (nobody), for what a check allows a user who is not root. */
import { expect } from "bun:test";

/** nobody's uid and gid. */
export const NOBODY = 65534;

/** Why a test that runs a command as nobody cannot run here, if it cannot (only root may switch users). */
export const notRoot =
  process.getuid?.() === 0 ? undefined : "only root can run a command as another user here";

/** Runs `script` (a file nobody may read) with bun as nobody, `args` after it; its stdout (no stderr). */
export function runAsNobody(script: string, args: string[]): string {
  const child = Bun.spawnSync(
    [
      "setpriv",
      `--reuid=${NOBODY}`,
      `--regid=${NOBODY}`,
      "--clear-groups",
      process.execPath,
      script,
      ...args,
    ],
    { env: { ...process.env, HOME: "/tmp" } },
  );
  expect(child.stderr.toString()).toBe("");
  return child.stdout.toString();
}

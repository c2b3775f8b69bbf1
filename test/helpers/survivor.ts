/** test/fixtures/survivor.ts, a client that holds a segment and its lock across an arbiter's restart. */
import { expect } from "bun:test";
import type { Spawned } from "./processes.ts";

/**
 * After the arbiter's restart: the survivor's next step is answered on a session resumed once, whose
 * holder of the lock is still the client that said `ready`; it then closes and exits cleanly.
 */
export async function expectResumedOnce(survivor: Spawned, ready: Record<string, unknown>): Promise<void> {
  survivor.proc.stdin.write("step\nexit\n");
  survivor.proc.stdin.flush();
  const stepped = await survivor.events.next("stepped");
  expect(stepped.reconnects).toBe(1);
  expect(stepped.owner).toBe(ready.clientId);
  await survivor.events.next("closed");
  expect(await survivor.exit()).toBe(0);
}

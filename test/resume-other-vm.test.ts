/**
 * A session belongs to the VM its connection was identified as (by the bridge, from the host's command
 * line): its token, learnt by another VM's guest or a host process, must not resume it, or that guest
 * would hold the first VM's grants and locks. The arbiter restarts in between, as resumes happen then.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { decodeError } from "../src/protocol/codec.ts";
import { FrameKind } from "../src/protocol/messages.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";
import { helloFrame, rawClient } from "./helpers/raw.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("resume-other-vm");
  arbiter = await ArbiterProcess.start(paths);
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

/** A raw connection identified as `vm` (as a bridge identifies it), or the host's own when undefined. */
async function connectionOf(vm: string | undefined) {
  const client = await rawClient(paths.socket);
  if (vm) client.send("identify", 0, { vm });
  return client;
}

test("a session's token resumes it only from its own VM: another VM's guest and the host are refused", async () => {
  const owner = await connectionOf("vm-a");
  const { sessionToken, clientId } = await owner.hello("owner");
  owner.socket.end();
  await arbiter.kill9();
  await arbiter.restart();
  for (const vm of ["vm-b", undefined]) {
    const other = await connectionOf(vm);
    try {
      other.write(helloFrame("thief", sessionToken as string));
      const answer = await other.answer(1);
      expect(answer.kind).toBe(FrameKind.error);
      const error = decodeError(answer.body);
      expect(error.code).toBe("PermissionDenied");
      expect(error.message).toContain(`resume client ${clientId}`);
      expect(error.message).toContain("the session belongs to VM 'vm-a'");
    } finally {
      other.socket.end();
    }
  }
  // Its own VM still resumes it.
  const back = await connectionOf("vm-a");
  expect((await back.hello("owner", sessionToken as string)).resumed).toBe(1);
  back.socket.end();
}, 60_000);

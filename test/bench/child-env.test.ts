/**
 * The benchmark's children (src/bench/child.ts) do not inherit NOTIFY_SOCKET: run by a systemd unit, the
 * `ivsh host` a bench starts would otherwise report READY=1 and STATUS= to the unit's manager as the unit's
 * own. The rest of the environment, and what the caller adds, still reach them.
 */
import { afterEach, expect, test } from "bun:test";
import { Child } from "../../src/bench/child.ts";

const saved = process.env.NOTIFY_SOCKET;
afterEach(() => {
  if (saved === undefined) delete process.env.NOTIFY_SOCKET;
  else process.env.NOTIFY_SOCKET = saved;
});

test("a bench child gets the environment less NOTIFY_SOCKET, and what its caller adds", async () => {
  process.env.NOTIFY_SOCKET = "/run/systemd/notify";
  const script =
    "console.log([process.env.NOTIFY_SOCKET ?? 'unset', process.env.PATH ? 'path' : 'no path', process.env.ADDED].join(' '))";
  const child = new Child([process.execPath, "-e", script], "printer", { ADDED: "added" });
  expect(await child.nextLine()).toBe("unset path added");
});

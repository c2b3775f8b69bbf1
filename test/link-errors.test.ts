/**
 * Words of src/guest/link-errors.ts at their edges, in-process: what a peer that is no arbiter sent is
 * shown whole when it fits (no "…" after all of it), and an arbiter silent exactly as long as the limit is
 * not yet given up on (past it, it is).
 */
import { expect, test } from "bun:test";
import { failure, forCommands } from "../src/errors.ts";
import { linkTrouble, notAnArbiter, type PeerNotArbiter } from "../src/guest/link-errors.ts";
import { silentArbiter } from "../src/guest/resume-tries.ts";

const ENDPOINT = { unix: "/tmp/ivsh-link-errors.sock" };
const CAUSE = failure("ConnectionLost", "greet the arbiter", "no frame came");

test("a peer's short first line is shown whole, with no '…'; a longer one is cut at 40 characters and marked", () => {
  const short = notAnArbiter(ENDPOINT, Buffer.from("SSH-2.0-OpenSSH_9.6\r\n"), CAUSE) as PeerNotArbiter;
  expect(short.said).toBe("SSH-2.0-OpenSSH_9.6");
  const long = notAnArbiter(ENDPOINT, Buffer.from(`HTTP/1.1 400 ${"x".repeat(40)}`), CAUSE) as PeerNotArbiter;
  expect(long.said).toBe(`HTTP/1.1 400 ${"x".repeat(27)}…`);
});

test("an arbiter silent exactly as long as the limit is not given up on; a millisecond more is", () => {
  expect(silentArbiter(30_000, 30_000)).toBeUndefined();
  expect(silentArbiter(30_001, 30_000)).toMatchObject({ code: "ArbiterUnreachable" });
});

// A guest's --connect by name, with no name server reachable (QEMU's restrict=on NIC): "the system said
// EAI_AGAIN" (a VM trial) left the user to look the code up.
test("a name that could not be looked up is said so, with the resolver's code", () => {
  const endpoint = { hostname: "arbiter.example", port: 7777 };
  const again = linkTrouble(endpoint, Object.assign(new Error("getaddrinfo"), { code: "EAI_AGAIN" }));
  expect(again.why).toBe("its name could not be looked up: no name server answered (EAI_AGAIN)");
  const none = linkTrouble(endpoint, Object.assign(new Error("getaddrinfo"), { code: "EAI_NONAME" }));
  expect(none.why).toBe("no address is known for its name (EAI_NONAME)");
});

// A name that did not resolve was told to start the VM with guestfwd=tcp:NAME:PORT, which QEMU refuses
// ("Invalid guest forwarding rule": guestfwd takes an address): the way on is --connect with an address.
test("a name that could not be looked up is advised an address, not a guestfwd naming it", () => {
  const endpoint = { hostname: "arbiter.example", port: 7777 };
  for (const code of ["EAI_AGAIN", "EAI_NONAME", "ENOTFOUND"]) {
    const { hint } = linkTrouble(endpoint, Object.assign(new Error("getaddrinfo"), { code }));
    expect(hint).not.toContain("guestfwd=tcp:arbiter.example");
    expect(hint).toContain("pass --connect 10.0.2.100:7777");
  }
  // An address that refused is still told what its VM needs.
  const refused = linkTrouble({ hostname: "10.0.2.100", port: 7777 }, { code: "ECONNREFUSED" });
  expect(refused.hint).toContain("guestfwd=tcp:10.0.2.100:7777-cmd:");
});

// A library caller has no --socket or --connect: every other hint of this file names connect()'s option
// beside the flag, which a command's output leaves out (forCommands).
test("a peer that is no arbiter: a library caller is told connect()'s option, a command only the flag", () => {
  const opening = Buffer.from("SSH-2.0-OpenSSH_9.6\r\n");
  const unix = notAnArbiter(ENDPOINT, opening, CAUSE).message;
  expect(unix).toEndWith("check --socket, or connect({ socket })");
  expect(forCommands(unix)).toEndWith("check --socket");
  const tcp = notAnArbiter({ hostname: "127.0.0.1", port: 7777 }, opening, CAUSE).message;
  expect(tcp).toContain("check the address (--connect, or connect({ tcp }))");
  expect(forCommands(tcp)).toContain("check the address (--connect);");
});

// Since a guest's TCP connect has its whole wait (hang38), one given more than the kernel's SYN retries
// (--timeout 1h) to an address that drops SYNs ended after ~2 min with "the system said ETIMEDOUT".
test("a TCP connect the system gave up on (ETIMEDOUT) is said as no answer, not as the bare code", () => {
  const endpoint = { hostname: "10.0.2.100", port: 7777 };
  const cause = Object.assign(new Error("connect"), { code: "ETIMEDOUT" });
  expect(linkTrouble(endpoint, cause).why).toBe(
    "nothing answered its connect before the system gave up retrying it (ETIMEDOUT)",
  );
});

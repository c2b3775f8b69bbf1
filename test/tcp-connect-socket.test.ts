/**
 * The guest's own non-blocking TCP connect (src/ffi/tcp-connect.ts), in process against listeners on
 * this machine: IPv6 in its short, full and IPv4-mapped forms reaches its listener; a refusal is reported
 * by connectError, not taken for a connection; the socket is non-blocking and close-on-exec; text that is
 * no IP address is EINVAL before any socket is made; and a connect that fails at once leaves no socket.
 * test/connect-tcp-*.test.ts drive it through the CLI with IPv4 loopback addresses only.
 */
import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { closeFd, isReady, POLLOUT } from "../src/ffi/index.ts";
import { connectError, startTcpConnect } from "../src/ffi/tcp-connect.ts";
import { eventually, livenessBoundMs } from "./helpers/processes.ts";
import { testUnless } from "./helpers/tools.ts";

const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;
const ECONNREFUSED = 111;

/** Connects to `ip`:`port` and returns how the connect ended (connectError: 0 when connected). */
async function connectEnd(ip: string, port: number): Promise<number> {
  const fd = startTcpConnect(ip, port);
  try {
    await eventually(async () => isReady(fd, POLLOUT, ip), livenessBoundMs(5000), `the connect to ${ip}`);
    return connectError(fd, ip);
  } finally {
    closeFd(fd);
  }
}

/** Why ::1 cannot be listened on here (IPv6 turned off), if it cannot. */
function noIpv6(): string | undefined {
  try {
    Bun.listen({ hostname: "::1", port: 0, socket: { data() {} } }).stop(true);
    return undefined;
  } catch (error) {
    return `IPv6 loopback (::1) is not available here: ${(error as Error).message}`;
  }
}
const ipv6Missing = noIpv6();

function listen(hostname: string) {
  let accepted = 0;
  const server = Bun.listen({ hostname, port: 0, socket: { open: () => void accepted++, data() {} } });
  return { server, accepted: () => accepted };
}

for (const [listenOn, ip] of [
  ["::1", "::1"],
  ["::1", "0:0:0:0:0:0:0:1"],
  ["::1", "::0:1"],
  ["127.0.0.1", "::ffff:127.0.0.1"],
  ["127.0.0.1", "127.0.0.1"],
] as const)
  testUnless(
    listenOn === "::1" ? ipv6Missing : undefined,
    `${ip} reaches a listener on ${listenOn}`,
    async () => {
      const { server, accepted } = listen(listenOn);
      try {
        expect(await connectEnd(ip, server.port)).toBe(0);
        await eventually(async () => accepted() === 1, livenessBoundMs(5000), "the listener's accept");
      } finally {
        server.stop(true);
      }
    },
  );

test("a port nothing listens on ends the connect with ECONNREFUSED, not as connected", async () => {
  const { server } = listen("127.0.0.1");
  const port = server.port;
  server.stop(true);
  expect(await connectEnd("127.0.0.1", port)).toBe(ECONNREFUSED);
});

test("the socket is non-blocking and close-on-exec", () => {
  const { server } = listen("127.0.0.1");
  const fd = startTcpConnect("127.0.0.1", server.port);
  try {
    const flags = Number.parseInt(
      /^flags:\s*([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"))![1]!,
      8,
    );
    expect({ nonBlocking: (flags & O_NONBLOCK) !== 0, closeOnExec: (flags & O_CLOEXEC) !== 0 }).toEqual({
      nonBlocking: true,
      closeOnExec: true,
    });
  } finally {
    closeFd(fd);
    server.stop(true);
  }
});

test("text that is no IP address is EINVAL, and no socket is made", () => {
  const before = readdirSync("/proc/self/fd").length;
  expect(() => startTcpConnect("arbiter.local", 7777)).toThrow("connect arbiter.local:7777: EINVAL");
  expect(readdirSync("/proc/self/fd").length).toBe(before);
});

test("a connect that fails at once (ENETUNREACH: a broadcast address) leaves no socket open", () => {
  const before = readdirSync("/proc/self/fd").length;
  for (let attempt = 0; attempt < 3; attempt++)
    expect(() => startTcpConnect("255.255.255.255", 80)).toThrow("ENETUNREACH");
  expect(readdirSync("/proc/self/fd").length).toBe(before);
});

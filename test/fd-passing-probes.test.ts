/**
 * src/ffi/fd-passing.ts's probes and plain datagrams, in this process: probeDatagramSocket tells a bound
 * datagram socket ("answers") from a socket file nobody has bound (ECONNREFUSED, a dead arbiter's) and
 * from nothing (ENOENT); sendDatagram to "@name" reaches the abstract socket of exactly that name (as
 * systemd's NOTIFY_SOCKET names one), not one padded with NULs to sockaddr_un's full length.
 */
import { dlopen, FFIType } from "bun:ffi";
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import {
  bindDatagramSocket,
  probeDatagramSocket,
  receiveWithFd,
  sendDatagram,
} from "../src/ffi/fd-passing.ts";
import { closeFd } from "../src/ffi/index.ts";

const dir = mkdtempSync("/tmp/ivsh-fd-passing-probes-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const libc = dlopen("libc.so.6", {
  socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  bind: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
}).symbols;

test("a bound datagram socket answers; its file once the socket is closed refuses; no file is ENOENT", () => {
  const path = join(dir, "probed.sock");
  expect(probeDatagramSocket(path)).toBe("ENOENT");
  const fd = bindDatagramSocket(path);
  expect(probeDatagramSocket(path)).toBe("answers");
  closeFd(fd);
  expect(probeDatagramSocket(path)).toBe("ECONNREFUSED");
});

test("sendDatagram to '@name' reaches the abstract socket bound under that name's own length", () => {
  const name = `ivsh-fd-passing-probes-${process.pid}`;
  // Bound here by hand, as systemd binds NOTIFY_SOCKET: family, NUL, the name, and not a byte more.
  const address = new Uint8Array(3 + name.length);
  new DataView(address.buffer).setUint16(0, 1 /* AF_UNIX */, true);
  address.set(Buffer.from(name), 3);
  const fd = libc.socket(1 /* AF_UNIX */, 2 /* SOCK_DGRAM */ | 0o4000 /* SOCK_NONBLOCK */, 0);
  expect(fd).toBeGreaterThanOrEqual(0);
  try {
    expect(libc.bind(fd, address, address.byteLength)).toBe(0);
    sendDatagram(`@${name}`, Buffer.from("READY=1"));
    const received = receiveWithFd(fd, name);
    expect(Buffer.from(received?.payload ?? []).toString()).toBe("READY=1");
  } finally {
    closeFd(fd);
  }
});

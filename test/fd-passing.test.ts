/**
 * Receiving a descriptor over a datagram socket (src/ffi/fd-passing.ts, the arbiter's hand-over socket): a
 * datagram that is not one payload with one descriptor is dropped, and every descriptor it brought is
 * closed, not left open in the arbiter. The sender here is raw sendmsg, to send what a bridge never does.
 */

import { dlopen, FFIType, ptr } from "bun:ffi";
import { afterAll, expect, test } from "bun:test";
import { closeSync, mkdtempSync, openSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bindDatagramSocket, receiveWithFd } from "../src/ffi/fd-passing.ts";
import { closeFd } from "../src/ffi/index.ts";

const libc = dlopen("libc.so.6", {
  socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  sendmsg: { args: [FFIType.i32, FFIType.ptr, FFIType.i32], returns: FFIType.i64_fast },
  close: { args: [FFIType.i32], returns: FFIType.i32 },
}).symbols;

const dir = mkdtempSync(join(tmpdir(), "ivsh-fd-passing-"));
const path = join(dir, "receiver.sock");
const receiver = bindDatagramSocket(path);
afterAll(() => {
  closeFd(receiver);
  rmSync(dir, { recursive: true, force: true });
});

/** Sends `payload` with SCM_RIGHTS carrying `fds` to `path`, as one datagram. */
function sendRaw(payload: Uint8Array, fds: number[]): void {
  const name = new Uint8Array(110);
  new DataView(name.buffer).setUint16(0, 1 /* AF_UNIX */, true);
  name.set(Buffer.from(path), 2);
  const iov = new Uint8Array(16);
  new DataView(iov.buffer).setBigUint64(0, BigInt(ptr(payload)), true);
  new DataView(iov.buffer).setBigUint64(8, BigInt(payload.byteLength), true);
  const cmsgLength = 16 + 4 * fds.length;
  const control = new Uint8Array(Math.ceil(cmsgLength / 8) * 8);
  const cmsg = new DataView(control.buffer);
  cmsg.setBigUint64(0, BigInt(cmsgLength), true);
  cmsg.setInt32(8, 1 /* SOL_SOCKET */, true);
  cmsg.setInt32(12, 1 /* SCM_RIGHTS */, true);
  for (const [i, fd] of fds.entries()) cmsg.setInt32(16 + 4 * i, fd, true);
  const header = new Uint8Array(56);
  const view = new DataView(header.buffer);
  view.setBigUint64(0, BigInt(ptr(name)), true);
  view.setUint32(8, name.byteLength, true);
  view.setBigUint64(16, BigInt(ptr(iov)), true);
  view.setBigUint64(24, 1n, true);
  view.setBigUint64(32, BigInt(ptr(control)), true);
  view.setBigUint64(40, BigInt(control.byteLength), true);
  const sender = libc.socket(1 /* AF_UNIX */, 2 /* SOCK_DGRAM */, 0);
  try {
    expect(Number(libc.sendmsg(sender, header, 0))).toBe(payload.byteLength);
  } finally {
    libc.close(sender);
  }
}

const openFds = () => readdirSync("/proc/self/fd").length;

/** Sends `payload` with `count` descriptors of /dev/null (closed here once sent), and receives it. */
function passAndReceive(payload: Uint8Array, count: number) {
  const fds = Array.from({ length: count }, () => openSync("/dev/null", "r"));
  sendRaw(payload, fds);
  for (const fd of fds) closeSync(fd);
  const before = openFds();
  const received = receiveWithFd(receiver, path);
  return { received, leaked: openFds() - before };
}

test("one payload with one descriptor is received whole, the descriptor open", () => {
  const { received, leaked } = passAndReceive(Buffer.from("hand-over"), 1);
  expect(Buffer.from(received!.payload).toString()).toBe("hand-over");
  expect(received!.fd).toBeNumber();
  expect(leaked).toBe(1);
  closeFd(received!.fd!);
});

test("a datagram with two descriptors is dropped, and both descriptors it brought are closed", () => {
  const { received, leaked } = passAndReceive(Buffer.from("two"), 2);
  expect(received).toEqual({ payload: new Uint8Array(0), fd: undefined });
  expect(leaked).toBe(0);
});

test("a payload longer than any hand-over (truncated) is dropped with its descriptor closed, not read in part", () => {
  const { received, leaked } = passAndReceive(new Uint8Array(2000).fill(7), 1);
  expect(received).toEqual({ payload: new Uint8Array(0), fd: undefined });
  expect(leaked).toBe(0);
});

test("more descriptors than the control buffer holds (control data truncated): all that came are closed", () => {
  const { received, leaked } = passAndReceive(Buffer.from("many"), 40);
  expect(received).toEqual({ payload: new Uint8Array(0), fd: undefined });
  expect(leaked).toBe(0);
});

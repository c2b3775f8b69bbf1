/**
 * A TCP connect of our own, non-blocking, so that it can be given up: Bun.connect has no way to cancel a
 * connect in progress, and one whose SYN goes unanswered (a listener whose accept queue is full drops it;
 * a host that drops it) keeps the process alive until the kernel gives up, about two minutes later, long
 * after the caller stopped waiting (the connect's timeout, or Ctrl-C). Closing our socket ends it at
 * once. Once connected, the descriptor is handed to Bun (Bun.connect({ fd })).
 *
 * Layouts (Linux): sockaddr_in { u16 family; u16 port (big-endian); u8 addr[4]; u8 zero[8] };
 * sockaddr_in6 { u16 family; u16 port (big-endian); u32 flowinfo; u8 addr[16]; u32 scope_id }.
 */

import { ptr } from "bun:ffi";
import { isIPv4, isIPv6 } from "node:net";
import { EINPROGRESS } from "./errno.ts";
import { lastErrno, SystemCallError } from "./index.ts";
import { libc, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_STREAM, SOL_SOCKET } from "./libc.ts";

const AF_INET = 2;
const AF_INET6 = 10;
const SO_ERROR = 4;

function socketAddress(ip: string, port: number): Uint8Array {
  const v6 = isIPv6(ip);
  const address = new Uint8Array(v6 ? 28 : 16);
  const view = new DataView(address.buffer);
  view.setUint16(0, v6 ? AF_INET6 : AF_INET, true);
  view.setUint16(2, port, false);
  if (!v6) address.set(ip.split(".").map(Number), 4);
  else address.set(ipv6Bytes(ip), 8);
  return address;
}

/** The 16 bytes of an IPv6 address in text ("::1", "fe80::1", "::ffff:1.2.3.4"). */
function ipv6Bytes(ip: string): Uint8Array {
  let text = ip.replace(/%.*$/, ""); // a zone id: not carried here
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)?.[1];
  if (tail) {
    const [a, b, c, d] = tail.split(".").map(Number) as [number, number, number, number];
    text = text.replace(tail, `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`);
  }
  const [head = "", rest] = text.split("::");
  const left = head ? head.split(":") : [];
  const right = rest ? rest.split(":") : [];
  const groups = [...left, ...Array(8 - left.length - right.length).fill("0"), ...right];
  const bytes = new Uint8Array(16);
  groups.forEach((group, index) => {
    const value = Number.parseInt(group, 16);
    bytes[index * 2] = value >> 8;
    bytes[index * 2 + 1] = value & 0xff;
  });
  return bytes;
}

/**
 * Starts a non-blocking connect to `ip` (numeric, v4 or v6) and `port`; returns the socket's descriptor
 * (close-on-exec), whose connection is done once it polls writable (then `connectError` says how it went).
 */
export function startTcpConnect(ip: string, port: number): number {
  if (!isIPv4(ip) && !isIPv6(ip)) throw new SystemCallError("connect", `${ip}:${port}`, 22 /* EINVAL */);
  const address = socketAddress(ip, port);
  const fd = libc.socket(isIPv6(ip) ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new SystemCallError("socket", `${ip}:${port}`, lastErrno());
  if (libc.connect(fd, address, address.byteLength) === 0) return fd;
  const errno = lastErrno();
  if (errno === EINPROGRESS) return fd;
  libc.close(fd);
  throw new SystemCallError("connect", `${ip}:${port}`, errno);
}

/** The errno a finished non-blocking connect on `fd` ended with (SO_ERROR), 0 when it connected. */
export function connectError(fd: number, what: string): number {
  const value = new Int32Array(1);
  const length = new Uint32Array([4]);
  if (libc.getsockopt(fd, SOL_SOCKET, SO_ERROR, ptr(value), ptr(length)) !== 0)
    throw new SystemCallError("getsockopt", what, lastErrno());
  return value[0]!;
}

/**
 * Passing an open file descriptor to another process (SCM_RIGHTS) over a Unix datagram socket: how a
 * guest's connection gets from its short-lived bridge into the arbiter. Bun's sockets do not expose
 * ancillary data, so these are sendmsg(2) / recvmsg(2) through bun:ffi, on sockets of our own.
 *
 * Layouts (x86_64 Linux): sockaddr_un { u16 family; char path[108] }; iovec { void *base; u64 len };
 * msghdr { void *name; u32 namelen; void *iov; u64 iovlen; void *control; u64 controllen; i32 flags }
 * (with padding: 56 bytes); cmsghdr { u64 len; i32 level; i32 type; data }.
 */
import { ptr } from "bun:ffi";
import { EAGAIN, errnoName } from "./errno.ts";
import { lastErrno, SystemCallError } from "./index.ts";
import { libc, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK, SOCK_STREAM, SOL_SOCKET } from "./libc.ts";

const AF_UNIX = 1;
const SCM_RIGHTS = 1;
const MSG_DONTWAIT = 0x40;
const MSG_CTRUNC = 0x8;
const MSG_TRUNC = 0x20;
const MSG_CMSG_CLOEXEC = 0x40000000;
const SUN_PATH_BYTES = 108;
const MSGHDR_BYTES = 56;
const CMSG_HEADER_BYTES = 16;
/** CMSG_SPACE(sizeof(int)): the header, one fd, padded to 8. */
const CMSG_ONE_FD_BYTES = 24;

/** The largest datagram a hand-over may carry (a VM name and a nonce need far less). */
const MAX_PASSED_PAYLOAD = 1024;

/**
 * A sockaddr_un for `path`. A path starting with "@" names a socket in the abstract namespace (as
 * systemd's NOTIFY_SOCKET may): its first byte is NUL and the address is exactly as long as the name.
 */
function socketAddress(path: string): Uint8Array {
  const abstract = path.startsWith("@");
  const bytes = Buffer.from(abstract ? `\0${path.slice(1)}` : path, "utf8");
  if (bytes.byteLength >= SUN_PATH_BYTES)
    throw new SystemCallError(
      "bind",
      `${path} (longer than ${SUN_PATH_BYTES - 1} bytes)`,
      36 /* ENAMETOOLONG */,
    );
  const address = new Uint8Array(2 + (abstract ? bytes.byteLength : SUN_PATH_BYTES));
  new DataView(address.buffer).setUint16(0, AF_UNIX, true);
  address.set(bytes, 2);
  return address;
}

function datagramSocket(flags: number, what: string): number {
  const fd = libc.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | flags, 0);
  if (fd < 0) throw new SystemCallError("socket", what, lastErrno());
  return fd;
}

/** A non-blocking Unix datagram socket bound at `path` (which must not exist); returns its fd. */
export function bindDatagramSocket(path: string): number {
  // The address first: a path it refuses (too long) would otherwise leave the socket open.
  const address = socketAddress(path);
  const fd = datagramSocket(SOCK_NONBLOCK, path);
  if (libc.bind(fd, address, address.byteLength) !== 0) {
    const errno = lastErrno();
    libc.close(fd);
    throw new SystemCallError("bind", path, errno);
  }
  return fd;
}

/**
 * "answers" if a process has a datagram socket bound at `path` (a datagram socket connects to it, sending
 * nothing), else the errno: ECONNREFUSED for a socket file nobody has bound, left by a dead process.
 */
export function probeDatagramSocket(path: string): string {
  const probe = datagramSocket(0, path);
  try {
    const address = socketAddress(path);
    return libc.connect(probe, address, address.byteLength) === 0 ? "answers" : errnoName(lastErrno());
  } finally {
    libc.close(probe);
  }
}

/**
 * The errno of a non-blocking stream connect to `path` (a file path, as Bun.connect takes it), or
 * "accepted" if it got into the queue (closed at once, sending nothing): EAGAIN when the listener's
 * queue of connections waiting to be accepted is full, ECONNREFUSED when a stream socket is bound there
 * that does not listen. Bun reports both as ECONNREFUSED.
 */
export function probeStreamSocket(path: string): string {
  const probe = libc.socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (probe < 0) throw new SystemCallError("socket", path, lastErrno());
  try {
    const address = socketAddress(path.startsWith("@") ? `./${path}` : path);
    if (libc.connect(probe, address, address.byteLength) === 0) return "accepted";
    const errno = lastErrno();
    return errno === EAGAIN ? "EAGAIN" : errnoName(errno); // Node's table names 11 EWOULDBLOCK
  } finally {
    libc.close(probe);
  }
}

interface Message {
  header: Uint8Array;
  /** Kept referenced until the call returns: the header holds their addresses. */
  parts: Uint8Array[];
}

function message(payload: Uint8Array, control: Uint8Array | undefined, name?: Uint8Array): Message {
  const iov = new Uint8Array(16);
  const iovView = new DataView(iov.buffer);
  iovView.setBigUint64(0, BigInt(ptr(payload)), true);
  iovView.setBigUint64(8, BigInt(payload.byteLength), true);
  const header = new Uint8Array(MSGHDR_BYTES);
  const view = new DataView(header.buffer);
  if (name) {
    view.setBigUint64(0, BigInt(ptr(name)), true);
    view.setUint32(8, name.byteLength, true);
  }
  view.setBigUint64(16, BigInt(ptr(iov)), true);
  view.setBigUint64(24, 1n, true);
  if (control) {
    view.setBigUint64(32, BigInt(ptr(control)), true);
    view.setBigUint64(40, BigInt(control.byteLength), true);
  }
  return { header, parts: [iov, payload, ...(control ? [control] : []), ...(name ? [name] : [])] };
}

/**
 * Sends `payload` and a duplicate of `fd` as one datagram to the socket bound at `path`. With `wait`
 * false, a receiver whose queue is full (net.unix.max_dgram_qlen datagrams unread) is not waited for: the
 * call throws EAGAIN at once instead of blocking for as long as the receiver reads nothing.
 */
export function sendWithFd(path: string, payload: Uint8Array, fd: number, wait = true): void {
  if (payload.byteLength === 0 || payload.byteLength > MAX_PASSED_PAYLOAD)
    throw new SystemCallError("sendmsg", `${path} (a ${payload.byteLength}-byte payload)`, 90 /* EMSGSIZE */);
  const control = new Uint8Array(CMSG_ONE_FD_BYTES);
  const view = new DataView(control.buffer);
  view.setBigUint64(0, BigInt(CMSG_HEADER_BYTES + 4), true);
  view.setInt32(8, SOL_SOCKET, true);
  view.setInt32(12, SCM_RIGHTS, true);
  view.setInt32(16, fd, true);
  const sender = datagramSocket(0, path);
  try {
    const { header, parts } = message(payload, control, socketAddress(path));
    const sent = Number(libc.sendmsg(sender, header, wait ? 0 : MSG_DONTWAIT));
    if (sent < 0) throw new SystemCallError("sendmsg", path, lastErrno());
    void parts;
  } finally {
    libc.close(sender);
  }
}

/** Sends `payload` as one datagram, nothing attached, to the socket at `path` ("@name": abstract). */
export function sendDatagram(path: string, payload: Uint8Array): void {
  const sender = datagramSocket(0, path);
  try {
    const { header, parts } = message(payload, undefined, socketAddress(path));
    if (Number(libc.sendmsg(sender, header, 0)) < 0) throw new SystemCallError("sendmsg", path, lastErrno());
    void parts;
  } finally {
    libc.close(sender);
  }
}

export interface PassedFd {
  readonly payload: Uint8Array;
  /** The received descriptor (close-on-exec), or undefined if the datagram carried none. */
  readonly fd: number | undefined;
}

/** The next datagram queued on `socketFd`, without waiting; undefined when none is queued. */
export function receiveWithFd(socketFd: number, what: string): PassedFd | undefined {
  const payload = new Uint8Array(MAX_PASSED_PAYLOAD);
  const control = new Uint8Array(CMSG_ONE_FD_BYTES * 4);
  const { header, parts } = message(payload, control);
  const received = Number(libc.recvmsg(socketFd, header, MSG_DONTWAIT | MSG_CMSG_CLOEXEC));
  void parts;
  if (received < 0) {
    const errno = lastErrno();
    if (errno === EAGAIN) return undefined;
    throw new SystemCallError("recvmsg", what, errno);
  }
  const view = new DataView(header.buffer);
  const flags = view.getInt32(48, true);
  const fds = passedFds(control, Number(view.getBigUint64(40, true)));
  // A truncated datagram or control block is not a hand-over we can trust: drop what came with it.
  if (flags & (MSG_TRUNC | MSG_CTRUNC) || fds.length > 1) {
    for (const fd of fds) libc.close(fd);
    return { payload: new Uint8Array(0), fd: undefined };
  }
  return { payload: payload.slice(0, received), fd: fds[0] };
}

/** The descriptors in a received control block (SCM_RIGHTS messages only). */
function passedFds(control: Uint8Array, length: number): number[] {
  const view = new DataView(control.buffer);
  const fds: number[] = [];
  for (let at = 0; at + CMSG_HEADER_BYTES <= length; ) {
    const cmsgLength = Number(view.getBigUint64(at, true));
    if (cmsgLength < CMSG_HEADER_BYTES) break;
    if (view.getInt32(at + 8, true) === SOL_SOCKET && view.getInt32(at + 12, true) === SCM_RIGHTS)
      for (let data = at + CMSG_HEADER_BYTES; data + 4 <= at + cmsgLength; data += 4)
        fds.push(view.getInt32(data, true));
    at += Math.ceil(cmsgLength / 8) * 8;
  }
  return fds;
}

/**
 * A connected pair of Unix stream sockets (close-on-exec), as QEMU's user-mode network gives a guestfwd
 * command: what tests use to stand in for it.
 */
export function streamSocketPair(): [number, number] {
  const fds = new Int32Array(2);
  if (libc.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) !== 0)
    throw new SystemCallError("socketpair", "AF_UNIX", lastErrno());
  return [fds[0]!, fds[1]!];
}

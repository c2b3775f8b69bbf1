/**
 * A socket path starting with "@", which Linux tools (systemd, socat, ss) read as a name in the abstract
 * namespace. ivsh took it three ways: Bun's sockets as a file of that name in the current directory (a
 * client's connect, the arbiter's listen), its own datagram sockets as an abstract name (the arbiter's
 * hand-over socket), so `ivsh host --socket @x` failed with "Failed to chmod @x.~123abc since no such file
 * or directory", and a client reached `./@x` where its user may have meant the abstract socket. An
 * abstract socket has no file mode to say who may connect, which the arbiter's access rests on (its
 * socket's group), so such a path is refused, on both sides, the same way.
 */
import { resolve } from "node:path";
import { failure } from "../errors.ts";

/** sun_path holds 108 bytes, the terminating NUL among them. */
export const SOCKET_PATH_MAX_BYTES = 107;

/**
 * `path` made absolute where it still fits sun_path with `suffix` (a socket the arbiter binds beside it)
 * added, else as given: a relative path may fit where its absolute one does not. What an arbiter or a
 * bridge says names it, and a relative one leads elsewhere from another shell or directory.
 */
export function absoluteSocketPath(path: string, suffix = ""): string {
  const absolute = resolve(path);
  return Buffer.byteLength(absolute + suffix) <= SOCKET_PATH_MAX_BYTES ? absolute : path;
}

/** Throws InvalidArgument if `path` starts with "@"; `action` says what it was for ("listen on ..."). */
export function refuseAbstractSocket(path: string, action: string): void {
  if (!path.startsWith("@")) return;
  throw failure(
    "InvalidArgument",
    action,
    `'${path}' starts with '@', which names a socket in the abstract namespace, and ivsh's sockets are ` +
      "files, whose mode says who may connect (an abstract socket has none): name a file instead " +
      `(./${path} for one called ${path} in this directory)`,
  );
}

/**
 * A socket path starting with "@", which Linux tools (systemd, socat, ss) read as a name in the abstract
 * namespace. ivsh took it three ways: Bun's sockets as a file of that name in the current directory (a
 * client's connect, the arbiter's listen), its own datagram sockets as an abstract name (the arbiter's
 * hand-over socket), so `ivsh host --socket @x` failed with "Failed to chmod @x.~123abc since no such file
 * or directory", and a client reached `./@x` where its user may have meant the abstract socket. An
 * abstract socket has no file mode to say who may connect, which the arbiter's access rests on (its
 * socket's group), so such a path is refused, on both sides, the same way.
 */
import { realpathSync } from "node:fs";
import { failure } from "../errors.ts";

/** sun_path holds 108 bytes, the terminating NUL among them. */
export const SOCKET_PATH_MAX_BYTES = 107;

/**
 * `path` made absolute where it still fits sun_path with `suffix` (a socket the arbiter binds beside it)
 * added, else as given: a relative path may fit where its absolute one does not. What an arbiter or a
 * bridge says names it, and a relative one leads elsewhere from another shell or directory.
 */
export function absoluteSocketPath(path: string, suffix = ""): string {
  const absolute = absolutePath(path);
  return Buffer.byteLength(absolute + suffix) <= SOCKET_PATH_MAX_BYTES ? absolute : path;
}

/**
 * `path` absolute, naming what the kernel finds at it from this directory: the working directory put
 * before a relative one, "." segments and repeated slashes dropped, and a ".." taken where the kernel
 * takes it, in the real directory (its realpath). path.resolve()'s ".." is lexical: "link/../a.sock" is
 * the a.sock beside link's target to the kernel, but resolve() named (and the arbiter bound) the one
 * beside link. A trailing slash (no socket's name) is kept too, unless `slash` is "dropped" (a file the
 * arbiter creates, as resolve() took it); a path whose ".." leads nowhere, as written. So is a relative one
 * once the working directory was removed: the kernel still reads it from there (a name in it is gone, a
 * ".." still leads out), and what opens it says what it did not find (process.cwd()'s raw ENOENT reached
 * connect()'s caller instead).
 */
export function absolutePath(path: string, slash: "kept" | "dropped" = "kept"): string {
  const cwd = path.startsWith("/") ? "" : workingDirectory();
  if (cwd === undefined) return path;
  const absolute = path.startsWith("/") ? path : `${cwd}/${path}`;
  const segments = absolute.split("/").filter((segment) => segment !== "" && segment !== ".");
  const trailing = slash === "kept" && segments.length > 0 && /\/\.?$/.test(absolute) ? "/" : "";
  const up = segments.lastIndexOf("..") + 1;
  let head = "";
  try {
    if (up > 0) head = realpathSync.native(`/${segments.slice(0, up).join("/")}`).replace(/\/$/, "");
  } catch {
    return `/${segments.join("/")}${trailing}`;
  }
  const rest = segments.slice(up).join("/");
  return rest === "" ? head || "/" : `${head}/${rest}${trailing}`;
}

/** This process's working directory, or undefined once it was removed (process.cwd() throws then). */
export function workingDirectory(): string | undefined {
  try {
    return process.cwd();
  } catch {
    return undefined;
  }
}

/**
 * `path` as `absolutePath` makes it, with its directory's symbolic links resolved: shm_init() compares two
 * spellings of one socket or region this way ("/tmp/link/a.sock" and "/tmp/real/a.sock", link a symlink to
 * real, were refused as different options). The file's own name is kept (a symlink there is a name of its
 * own), and a trailing slash (no file's name) too. The longest leading directory that resolves is taken,
 * not only a file that exists: the same options given while the arbiter was stopped (its socket removed,
 * or its runtime directory) were refused as other options.
 */
export function resolvedPath(path: string): string {
  const absolute = absolutePath(path);
  if (absolute.endsWith("/")) return absolute;
  for (let end = absolute.lastIndexOf("/"); end > 0; end = absolute.lastIndexOf("/", end - 1)) {
    try {
      const head = realpathSync.native(absolute.slice(0, end));
      return `${head === "/" ? "" : head}${absolute.slice(end)}`;
    } catch {
      // Gone, or not to be looked in by this user: the directory above, and the rest as written.
    }
  }
  return absolute;
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

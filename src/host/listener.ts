/**
 * The arbiter's Unix socket. A socket file left by a dead arbiter is replaced; one that still answers
 * belongs to a live arbiter, or to another program, and is refused (saying which), so two arbiters never
 * serve one path and nobody's socket is taken.
 */
import { accessSync, constants, lstatSync, readlinkSync, statSync } from "node:fs";
import { dirname } from "node:path";
import type { SocketHandler } from "bun";
import { userName } from "../accounts.ts";
import { failure, type IvshError, isIvshError } from "../errors.ts";
import { probeDatagramSocket, probeStreamSocket } from "../ffi/fd-passing.ts";
import { flaggedDirectoryRefusal } from "../ffi/file-flags.ts";
import { errnoOf } from "../ffi/index.ts";
import { greetArbiter } from "../guest/inspect.ts";
import {
  isDirectory as isDirectoryPath,
  NOT_A_SOCKET_BUT_DIRECTORY,
  PeerNotArbiter,
  socketInDirectory,
} from "../guest/link-errors.ts";
import { refuseAbstractSocket, SOCKET_PATH_MAX_BYTES } from "../guest/socket-name.ts";
import type { Connection } from "./connection.ts";
import {
  arbiterListening,
  bindPrivately,
  fileIdentity,
  publishSocket,
  removeAtStop,
  removeIfStill,
  stillPublished,
} from "./socket-file.ts";

const PROBE_TIMEOUT_MS = 1000;

/** A listening arbiter socket; `stop` removes its file only if that is still the one it bound. */
export interface ArbiterListener {
  stop(): void;
  /** Whether the file at the socket's path is still the one bound (not removed, nor replaced). */
  published(): boolean;
}

/**
 * Call `clearStaleSocket` first, before anything else is touched: it is what refuses a second arbiter.
 * Bound privately and then linked to `path` (./socket-file.ts): `path` is taken only if free, and Bun's
 * stop, which removes the file at the name it bound whoever's it is by then, removes only the private name.
 */
export function listenUnix(path: string, handlers: SocketHandler<Connection>): ArbiterListener {
  const [server, privatePath] = bindPrivately(path, (unix) =>
    Bun.listen<Connection>({ unix, socket: handlers }),
  );
  let identity: string | undefined;
  try {
    identity = publishSocket(privatePath, path);
  } catch (error) {
    server.stop(true);
    throw error;
  }
  return {
    stop() {
      server.stop(true);
      removeAtStop(path, identity);
    },
    published: () => identity !== undefined && stillPublished(path, identity),
  };
}

/**
 * Refuses a --socket the arbiter could not listen on, before the region or state is touched: its
 * directory must exist, and the path must fit sun_path with the longest suffix the arbiter adds to it.
 */
export function checkSocketPath(path: string, suffix: string): void {
  refuseAbstractSocket(path, `listen on --socket ${path}`);
  const bytes = Buffer.byteLength(path + suffix);
  if (bytes > SOCKET_PATH_MAX_BYTES)
    throw failure(
      "InvalidArgument",
      `listen on --socket ${path}`,
      `with the '${suffix}' socket beside it that path is ${bytes} bytes, over the ${SOCKET_PATH_MAX_BYTES} a ` +
        `Unix socket's path may have, so --socket may be at most ${SOCKET_PATH_MAX_BYTES - Buffer.byteLength(suffix)} ` +
        "bytes (choose a shorter path, e.g. in /run or /tmp)",
    );
  const directory = dirname(path);
  let isDirectory: boolean;
  try {
    isDirectory = statSync(directory).isDirectory();
  } catch (error) {
    const errno = errnoOf(error) || "an error";
    const why =
      errno === "ENOENT"
        ? "does not exist"
        : errno === "EACCES"
          ? "cannot be reached by this user (EACCES)"
          : `cannot be examined (${errno})`;
    throw failure(
      "InvalidArgument",
      `listen on --socket ${path}`,
      `its directory ${directory} ${why} (create it, or choose another --socket)`,
    );
  }
  if (!isDirectory)
    throw failure(
      "InvalidArgument",
      `listen on --socket ${path}`,
      `${directory} is not a directory (choose another --socket)`,
    );
  if (isDirectoryPath(path))
    throw failure(
      "InvalidArgument",
      `listen on --socket ${path}`,
      `${NOT_A_SOCKET_BUT_DIRECTORY} (${socketInDirectory(path)})`,
    );
  const refused = whyNotWritable(directory);
  // Read-only is no matter of users: /tmp is, to a systemd unit with ProtectSystem=strict.
  if (refused === "EROFS")
    throw failure(
      "PermissionDenied",
      `listen on --socket ${path}`,
      `${directory} is on a read-only file system (EROFS), where the socket and the '${suffix}' socket beside it go (choose another --socket; under a systemd unit with ProtectSystem=, one in its RuntimeDirectory=, e.g. /run/ivsh/ivsh.sock)`,
    );
  // Root meets EPERM too, in a directory flagged immutable: no user to blame. An append-only one is
  // writable, but the socket bound there under a private name could be neither renamed into place nor removed.
  const flagged =
    refused === "EPERM" || !refused ? flaggedDirectoryRefusal(path, "choose another --socket") : undefined;
  if (flagged) throw failure("PermissionDenied", `listen on --socket ${path}`, flagged);
  if (refused)
    throw failure(
      "PermissionDenied",
      `listen on --socket ${path}`,
      `this user (uid ${process.geteuid?.()}) may not create files in ${directory}, where the socket and the '${suffix}' socket beside it go (choose another --socket, or run as a user who may)`,
    );
}

/** Why this user may not create files in `directory` (its errno), or undefined if it may. */
function whyNotWritable(directory: string): string | undefined {
  try {
    accessSync(directory, constants.W_OK | constants.X_OK);
    return undefined;
  } catch (error) {
    return errnoOf(error) || "EACCES";
  }
}

export async function clearStaleSocket(path: string): Promise<void> {
  const found = lstatSync(path, { throwIfNoEntry: false });
  if (!found) return;
  // A link, even to nothing: the socket would be bound at the link's path and fail (EADDRINUSE).
  if (found.isSymbolicLink())
    throw failure(
      "InvalidArgument",
      `listen on ${path}`,
      `it is a symbolic link (to ${readlinkSync(path)}): pass the path the socket is to have`,
    );
  if (!found.isSocket())
    throw failure(
      "InvalidArgument",
      `listen on ${path}`,
      "a file that is not a socket is in the way (choose another --socket)",
    );
  const probed = fileIdentity(path);
  const streamProbe = await probeSocket(path);
  if (streamProbe === "answers") throw await whoListens(path);
  // Bun says ECONNREFUSED for a full accept queue too (EAGAIN): a serving arbiter, stopped or overloaded.
  if (streamProbe === "ECONNREFUSED" && ["EAGAIN", "accepted"].includes(probeStreamSocket(path)))
    throw failure(
      "ArbiterRunning",
      `listen on ${path}`,
      `another arbiter${arbiterListening(path)} is serving it, and accepts no more connections now: its queue of ` +
        "connections waiting to be accepted is full (its process may be stopped, or overloaded); stop it, or " +
        "choose another --socket",
    );
  // Only a refused connection proves nobody listens: a socket this user may not connect to, or one
  // that does not accept in time, may well be a live arbiter's (another user's, an overloaded one). And
  // only a socket nobody has bound is dead: a datagram connect, which sends nothing, tells it from one
  // bound (a live arbiter's .handover, which a stream connect is refused by, EPROTOTYPE or ECONNREFUSED).
  const probe = ["ECONNREFUSED", "EPROTOTYPE"].includes(streamProbe)
    ? probeDatagramSocket(path)
    : streamProbe;
  if (probe === "answers" || probe === "EPROTOTYPE")
    throw failure(
      "ArbiterRunning",
      `listen on ${path}`,
      "a running process has a socket bound there that accepts no connection, another arbiter's hand-over " +
        "socket most likely (stop that arbiter, or choose another --socket)",
    );
  if (!["ECONNREFUSED", "ENOENT"].includes(probe))
    throw failure(
      probe === "EACCES" ? "PermissionDenied" : "ArbiterRunning",
      `listen on ${path}`,
      `${probeWords[probe] ?? `connecting to it failed (${probe})`}: another arbiter${arbiterListening(path)} may be serving it (stop it, or choose another --socket; remove the file yourself only if nothing listens there)`,
    );
  // The dead socket probed, not one another start put there meanwhile (which listenUnix then refuses).
  try {
    removeIfStill(path, probed);
  } catch (error) {
    throw notOursToRemove(path, found.uid) ?? error;
  }
}

/**
 * Why a dead socket at `path` could not be removed, if it is another user's: a directory with the sticky
 * bit (/tmp) lets only a file's owner remove it (unlink's EPERM).
 */
function notOursToRemove(path: string, owner: number): IvshError | undefined {
  const me = process.geteuid?.() ?? owner;
  if (owner === me) return undefined;
  return failure(
    "PermissionDenied",
    `listen on ${path}`,
    `the dead arbiter's socket there belongs to ${userName(owner)}, and this user, ${userName(me)}, may not ` +
      `remove it from ${dirname(path)}: remove it as its owner or root, or choose another --socket`,
  );
}

/** How long a socket that accepts is given to answer a hello: a live arbiter answers in milliseconds. */
const GREET_WAIT_MS = 2000;

/**
 * Why a socket that accepts connections is refused, said after greeting it as a client would: another
 * arbiter, a program that speaks another protocol (socat, a web server), or one that does not answer.
 * Either way the socket is someone's and is left alone.
 */
async function whoListens(path: string): Promise<IvshError> {
  const action = `listen on ${path}`;
  const holder = arbiterListening(path);
  try {
    await greetArbiter({ unix: path }, "ivsh host (is this socket free?)", GREET_WAIT_MS);
  } catch (error) {
    if (error instanceof PeerNotArbiter)
      return failure(
        "InvalidArgument",
        action,
        `a program that is not an ivsh arbiter${holder} listens on it (greeted, it answered "${error.said}"): ` +
          "stop that program, or choose another --socket (the socket is not ivsh's to remove)",
      );
    // An arbiter refusing the hello (another version, too many clients) answered in our protocol.
    const silence = isIvshError(error, "ConnectionLost")
      ? "it closed the connection without answering a hello"
      : isIvshError(error, "ArbiterUnreachable")
        ? `it did not answer a hello within ${GREET_WAIT_MS / 1000} s`
        : undefined;
    if (silence)
      return failure(
        "ArbiterRunning",
        action,
        `something${holder} listens on it but did not answer like an ivsh arbiter (${silence}): a stopped or ` +
          "overloaded arbiter, or a program that is not one; stop it, or choose another --socket",
      );
  }
  return failure(
    "ArbiterRunning",
    action,
    `another arbiter${holder} is serving it (stop it, or choose another --socket)`,
  );
}

const probeWords: Record<string, string> = {
  EACCES: "this user may not connect to it (EACCES)",
  timeout: `it accepted no connection within ${PROBE_TIMEOUT_MS / 1000} s`,
};

/** Whether something accepts connections on the Unix socket at `path` (within a second). */
export async function socketAnswers(path: string): Promise<boolean> {
  return (await probeSocket(path)) === "answers";
}

/** "answers" if something accepts a connection at `path` within a second, else the errno or "timeout". */
function probeSocket(path: string): Promise<string> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve("timeout"), PROBE_TIMEOUT_MS);
    const refused = (error: unknown) => {
      clearTimeout(timer);
      resolve(errnoOf(error) || String(error));
    };
    Bun.connect({
      unix: path,
      socket: {
        open(socket) {
          clearTimeout(timer);
          socket.end();
          resolve("answers");
        },
        data() {},
        connectError: (_socket, error) => refused(error),
      },
    }).catch(refused);
  });
}

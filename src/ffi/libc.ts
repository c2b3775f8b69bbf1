/**
 * The raw libc symbols ivsh calls. Nothing outside src/ffi touches these: the wrappers in ./index.ts turn
 * `-1` and `MAP_FAILED` into errors that carry the call, the path and errno's name.
 */
import { dlopen, FFIType } from "bun:ffi";
import type { IvshError } from "../errors.ts";
import { unsupportedPlatform } from "../platform.ts";
import { jitRefusal } from "./jit.ts";

const { ptr, i32, u32, i64, u64, i64_fast, cstring } = FFIType;

// The calls below are Linux x86-64's (../platform.ts): anywhere else ivsh stops before loading.
const unsupported = unsupportedPlatform();
if (unsupported) throw unsupported;

/**
 * libc's symbols; with Bun's JIT off (./jit.ts), calls that each throw why instead, which `libcRefusal`
 * says. Thrown as this module loaded, it reached the user as an uncaught exception with Bun's listing of
 * the throw, for every command: the CLI's bundle evaluates this module before any code of the CLI's own,
 * which then looks at `libcRefusal` (../commands/_ffi-ready.ts) before any call.
 */
let refusal: IvshError | undefined;
export const libc = openLibc();
/** Why libc cannot be called in this process (Bun's JIT off), or undefined. */
export const libcRefusal = refusal;

function openLibc() {
  try {
    return openedLibc();
  } catch (error) {
    refusal = jitRefusal(error);
    if (!refusal) throw error;
    const refused = refusal;
    return new Proxy({} as ReturnType<typeof openedLibc>, {
      get: () => () => {
        throw refused;
      },
    });
  }
}

function openedLibc() {
  return dlopen("libc.so.6", {
    open: { args: [cstring, i32, u32], returns: i32 },
    close: { args: [i32], returns: i32 },
    isatty: { args: [i32], returns: i32 },
    ftruncate: { args: [i32, i64], returns: i32 },
    fchmod: { args: [i32, u32], returns: i32 },
    flock: { args: [i32, i32], returns: i32 },
    // Only for FS_IOC_GETFLAGS (./file-flags.ts): descriptor, request, address of the flags.
    ioctl: { args: [i32, u64, ptr], returns: i32 },
    fcntl: { args: [i32, i32, i32], returns: i32 },
    poll: { args: [ptr, u64, i32], returns: i32 },
    mmap: { args: [ptr, u64, i32, i32, i32, i64], returns: ptr },
    munmap: { args: [ptr, u64], returns: i32 },
    madvise: { args: [ptr, u64, i32], returns: i32 },
    mincore: { args: [ptr, u64, ptr], returns: i32 },
    memcpy: { args: [ptr, ptr, u64], returns: ptr },
    read: { args: [i32, ptr, u64], returns: i64_fast },
    pread: { args: [i32, ptr, u64, i64], returns: i64_fast },
    lseek: { args: [i32, i64, i32], returns: i64_fast },
    write: { args: [i32, ptr, u64], returns: i64_fast },
    pipe2: { args: [ptr, i32], returns: i32 },
    vmsplice: { args: [i32, ptr, u64, u32], returns: i64_fast },
    splice: { args: [i32, ptr, i32, ptr, u64, u32], returns: i64_fast },
    sched_yield: { args: [], returns: i32 },
    sched_getcpu: { args: [], returns: i32 },
    // Only for futex(2), which glibc has no wrapper for: number, address, op, value, timeout, address2, value3.
    syscall: { args: [i64, ptr, i32, i32, ptr, ptr, i32], returns: i64_fast },
    sched_setscheduler: { args: [i32, i32, ptr], returns: i32 },
    setpriority: { args: [i32, u32, i32], returns: i32 },
    prctl: { args: [i32, u64, u64, u64, u64], returns: i32 },
    // Only to ignore a signal again (./process.ts): number, SIG_IGN; returns the previous handler or SIG_ERR.
    signal: { args: [i32, u64], returns: u64 },
    // Sockets Bun does not make: a datagram socket passing descriptors (./fd-passing.ts), a TCP connect
    // that can be given up (./tcp-connect.ts).
    socket: { args: [i32, i32, i32], returns: i32 },
    socketpair: { args: [i32, i32, i32, ptr], returns: i32 },
    bind: { args: [i32, ptr, u32], returns: i32 },
    connect: { args: [i32, ptr, u32], returns: i32 },
    getsockopt: { args: [i32, i32, i32, ptr, ptr], returns: i32 },
    sendmsg: { args: [i32, ptr, i32], returns: i64_fast },
    recvmsg: { args: [i32, ptr, i32], returns: i64_fast },
    prlimit: { args: [i32, i32, ptr, ptr], returns: i32 },
    __errno_location: { args: [], returns: ptr },
    strerror: { args: [i32], returns: cstring },
  }).symbols;
}

/** socket(2)'s type flags and setsockopt's level, shared by both kinds of socket above. */
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;

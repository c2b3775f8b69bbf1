// What `import "ivsh"` loads outside Bun: the library maps shared memory and parks on futexes through
// bun:ffi, which only Bun has. Every name src/guest/index.ts, src/guest/shm.ts ("ivsh/shm") and
// src/transfer/index.ts ("ivsh/channel") export is declared here too, so an import of any of them links
// and the program stops on the error of ./needs-bun.cjs (required first, it throws), not on a missing export.
// Required, not imported: Node 20 takes a CommonJS module that throws under an ES import for an uncaught
// error even when the program catches its import("ivsh"), and ends the program.
import { createRequire } from "node:module";

createRequire(import.meta.url)("./needs-bun.cjs");

export let ErrorCode, IvshError, isIvshError, Client, connect, mappingProbe;
export let findIvshmemDevice, findIvshmemDevices, Segment, CondVar, Mutex;
export let shm_init, shm_uid, shm_alloc, shm_open, shm_dealloc, shm_create_cv;
export let shm_acquire_cv, shm_release_cv, shm_wait_cv, shm_notify_cv, shm_finish;
export let ChannelSender, ChannelReceiver, formatDigest, DEFAULT_CHUNK_BYTES, DEFAULT_DEPTH;


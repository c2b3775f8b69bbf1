/**
 * Imported by the CLI right after ./_platform.ts, before any module calls libc as it loads: with Bun's
 * JIT off (an address-space limit, ulimit -v, too small for it; src/ffi/jit.ts), no call can be made,
 * the log's own writes included, and a command that tried exited 1 saying nothing. Said here in the CLI's
 * one error line, as ./_platform.ts says its own refusal.
 */
import { libcRefusal } from "../ffi/index.ts";
import { refuseToStart } from "./_platform.ts";

if (libcRefusal) refuseToStart(libcRefusal);

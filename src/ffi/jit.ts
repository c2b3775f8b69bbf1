/**
 * bun:ffi needs Bun's JIT compiler, which is off when the executable memory it reserves did not fit the
 * address-space limit (ulimit -v of 2 GiB, common on shared machines) or BUN_JSC_useJIT turns it off:
 * every dlopen then throws a bare "bun:ffi requires the JIT". Said here with its cause and what to do.
 */
import { failure, type IvshError } from "../errors.ts";
import { addressSpaceLimit } from "./address-space.ts";

/** `error`, a dlopen's, as the JIT being off, with its cause; undefined for any other error. */
export function jitRefusal(error: unknown): IvshError | undefined {
  if (!(error instanceof Error) || !error.message.includes("requires the JIT")) return undefined;
  const limit = addressSpaceLimit();
  const setting = process.env.BUN_JSC_useJIT;
  // The setting first: it turns the JIT off under any limit, where raising the limit would change nothing.
  const why =
    setting !== undefined && /^(0|false)$/i.test(setting.trim())
      ? `BUN_JSC_useJIT=${setting} turns it off: unset it`
      : limit !== undefined
        ? `this process's address-space limit (ulimit -v ${Math.floor(limit / 1024)} KiB) leaves no room for what the JIT reserves: raise it (ulimit -v unlimited; Bun needs about 3 GiB)`
        : "the system refused it executable memory (a security policy?): run ivsh where it may have some";
  return failure(
    "SystemCall",
    "load ivsh",
    `Bun's JIT compiler is off in this process, and bun:ffi, through which ivsh makes its system calls, needs it: ${why}`,
  );
}

/**
 * The address ranges of closed clients' regions (`MappedRegion.retire`): kept reserved, so a view kept
 * past close() faults instead of reading whatever the runtime maps there next, and the most recent
 * RETIRED_GUARDS of them guarded, so the fault is explained (the native guard holds 64 ranges in all, and
 * live regions need theirs). Not without bound: every connect() reserves its region's whole size, and a
 * process that connected and closed again and again (a session per job) ran out of address space (x86-64
 * gives a process 128 TiB: on a 4 TiB region the 31st connect() failed with ENOMEM). Past RETIRED_BYTES,
 * the oldest ranges are unmapped.
 */
import { unmap } from "../ffi/index.ts";
import { nativeFaultGuard } from "../ffi/native.ts";

const RETIRED_GUARDS = 16;
/** An eighth of the address space: 65 536 closed regions of 256 MiB, four of 4 TiB. */
const RETIRED_BYTES = 16 * 2 ** 40;

const retired: { base: number; size: number; source: string }[] = [];
/** How many of the newest in `retired` are still guarded. */
let guarded = 0;
let retiredBytes = 0;

/** Keeps a closed region's range (already reserved, still guarded); lets go of the oldest past the limits. */
export function keepRetired(base: number, size: number, source: string): void {
  retired.push({ base, size, source });
  retiredBytes += size;
  if (++guarded > RETIRED_GUARDS) {
    guarded--;
    nativeFaultGuard()?.unguard(retired[retired.length - 1 - guarded]!.base);
  }
  while (retiredBytes > RETIRED_BYTES && retired.length > 1) {
    const oldest = retired.shift()!;
    retiredBytes -= oldest.size;
    if (retired.length < guarded) {
      guarded--;
      nativeFaultGuard()?.unguard(oldest.base);
    }
    unmap(oldest.base, oldest.size, `${oldest.source} (closed)`);
  }
}

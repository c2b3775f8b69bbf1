/** `ivsh bench --scale`'s room in /dev/shm, checked before it runs (src/bench/arbiter.ts's checkShmRoom). */
import { checkShmRoom, DEFAULT_REGION_BYTES } from "../bench/arbiter.ts";
import { journalBytesFor, regionBytesFor, type ScalePlan, scalePlan } from "../bench/scale.ts";

type GivenFlags = Omit<Parameters<typeof scalePlan>[0], "quick">;

/**
 * Its state journal is kept next to the region: it needs room there too. With --vm, each guest case's
 * arbiter then keeps a region of its own there (the scale run's is gone by then): unchecked, it was refused
 * after the whole scale run, advising --size, which bench does not take.
 */
export function checkScaleRoom(
  plan: ScalePlan,
  given: GivenFlags,
  { quick, vm }: { quick: boolean; vm: boolean },
) {
  const guests = vm ? DEFAULT_REGION_BYTES : 0;
  const own = (of: ScalePlan) => regionBytesFor(of) + journalBytesFor(of);
  const shmBytes = (of: ScalePlan) => Math.max(own(of), guests);
  // The journal grows with every request: --seconds × --rate of them. No help for the guests' region.
  const fewer = "pass fewer --allocations or --clients, or a shorter --seconds or lower --rate";
  checkShmRoom(
    "run the scale benchmark",
    shmBytes(plan),
    [...quickAdvice(quick, given, shmBytes), ...(own(plan) > guests ? [{ bytes: 0, advice: fewer }] : [])],
    vm ? "its region and state journal, then the guests' region, need" : "its region and state journal need",
  );
}

/**
 * "run with --quick", with what it needs: --quick keeps the flags given (a long --seconds), so it was
 * advised with the size of its own defaults where it would need as much as the run refused.
 */
function quickAdvice(
  quick: boolean,
  given: GivenFlags,
  shmBytes: (plan: ScalePlan) => number,
): { bytes: number; advice: string }[] {
  if (quick) return [];
  try {
    return [{ bytes: shmBytes(scalePlan({ quick: true, ...given })), advice: "run with --quick" }];
  } catch {
    return []; // the flags given do not go with --quick's defaults (more --clients than its allocations)
  }
}

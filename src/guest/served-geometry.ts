/**
 * Whether the region a client mapped is the one its arbiter serves: the geometry the hello announced
 * against the header the mapping shows, each way they can differ told apart (another file, a private copy,
 * a truncated file, a header being put back by the arbiter's next sweep) with what to do.
 */
import { failure, type IvshError, isIvshError, libraryForm, reasonOf, throwIfAborted } from "../errors.ts";
import { type Reply, sweepPeriodMs } from "../protocol/messages.ts";
import { greetedUpTo } from "../region/header.ts";
import { type Geometry, sameGeometry } from "../region/layout.ts";
import type { MappedRegion } from "../region/mapping.ts";
import { formatBytes, formatWait } from "../units.ts";
import { deviceAddress, deviceMismatch, truncatedRegion } from "./device-mismatch.ts";
import { describeEndpoint, type Endpoint } from "./transport.ts";

/** Pids repeat across containers (pid namespaces), so the instance number is named too. */
function describeArbiter({
  arbiterPid,
  arbiterInstance,
}: {
  arbiterPid: number;
  arbiterInstance: number;
}): string {
  return `pid ${arbiterPid}, instance ${arbiterInstance.toString(16)}`;
}

/** The geometry the arbiter announced, after checking that the mapped region says the same. */
export function checkGeometry(region: MappedRegion, hello: Reply<"hello">, endpoint: Endpoint): Geometry {
  const header = headerOfServed(region, hello, endpoint);
  const announced: Geometry = {
    regionSize: hello.regionSize,
    blockSize: hello.blockSize,
    blockCount: hello.blockCount,
    slotCount: hello.slotCount,
    slotOffset: header.slotOffset,
    dataOffset: hello.dataOffset,
  };
  if (header.arbiterInstance !== hello.arbiterInstance && !isArbiterInstance(header.arbiterInstance))
    throw failure(
      "RegionInvalid",
      `use ${region.source} with the arbiter at ${describeEndpoint(endpoint)}`,
      `its header names arbiter instance ${header.arbiterInstance.toString(16)}, which no arbiter chooses (overwritten?)`,
    );
  if (header.arbiterInstance !== hello.arbiterInstance && sameGeometry(header, announced))
    throw failure(
      "RegionInvalid",
      `use ${region.source} with the arbiter at ${describeEndpoint(endpoint)}`,
      `that region is served by another arbiter (${describeArbiter(header)}) than the one at ` +
        `${describeEndpoint(endpoint)} (${describeArbiter(hello)}), which serves another region of the same size ` +
        `(pass the --region and --socket${libraryForm(", or the connect() options,")} of one arbiter; \`ivsh status\` shows its region)`,
    );
  // Its header is that arbiter's, yet this client not among those it greeted there: a copy.
  if (header.arbiterInstance === hello.arbiterInstance && !seesArbiterWrites(region, hello))
    throw unseenWrites(region, hello, endpoint);
  if (!sameGeometry(header, announced) || header.epoch !== hello.epoch)
    throw failure(
      "RegionInvalid",
      `use ${region.source} with the arbiter at ${describeEndpoint(endpoint)}`,
      `the region's header (${formatBytes(header.regionSize)}, epoch ${header.epoch}) is not the region that arbiter serves ` +
        `(${formatBytes(hello.regionSize)}, epoch ${hello.epoch}); pass the matching --region (\`ivsh status\` names it${libraryForm("; connect({ region })")})`,
    );
  return announced;
}

/**
 * A mapping that does not see what the arbiter writes: a copy of the region file (its header and geometry
 * the same), or a guest's memory backend without share=on. Both ends of a channel then waited for ever, each
 * in its own copy ("no receiver showed up", "no sender showed up"): the arbiter says in the header which
 * clients it greeted, and this one's id is not among them there.
 */
function seesArbiterWrites(region: MappedRegion, hello: Reply<"hello">): boolean {
  const greeted = greetedUpTo(region.headerWords(), hello.epoch);
  return greeted === undefined || greeted >= hello.clientId;
}

function unseenWrites(region: MappedRegion, hello: Reply<"hello">, endpoint: Endpoint) {
  const greeted = greetedUpTo(region.headerWords(), hello.epoch) ?? 0;
  return failure(
    "RegionInvalid",
    `use ${region.source} with the arbiter at ${describeEndpoint(endpoint)}`,
    `this mapping of it does not see what that arbiter writes (it greeted this client as ${hello.clientId}, the ` +
      `region says it greeted none above ${greeted}): a copy of the region file, not the one it serves, or in a ` +
      `VM a memory-backend-file without share=on; pass the region the arbiter serves (\`ivsh status\` names it${libraryForm("; connect({ region })")})`,
  );
}

/**
 * The region's header; a file of another size than the arbiter serves that holds none is another file,
 * and the error says so and what to pass (it said only "holds no ivsh header"). One of the same size may
 * be a header being put back: its error is left as it is, for settledGeometry to wait on.
 */
function headerOfServed(region: MappedRegion, hello: Reply<"hello">, endpoint: Endpoint) {
  try {
    return region.readHeader();
  } catch (error) {
    if (!isIvshError(error, "RegionInvalid") || region.size === hello.regionSize) throw error;
    if (!deviceAddress(region.source) && truncatedRegion(region, hello))
      throw cutShort(region, hello, endpoint);
    throw failure(
      "RegionInvalid",
      `use ${region.source} with the arbiter at ${describeEndpoint(endpoint)}`,
      `${reasonOf(error)} and is ${region.size} bytes, not the ` +
        `${hello.regionSize}-byte region that arbiter serves: pass the matching --region (\`ivsh status\` names it${libraryForm("; connect({ region })")})`,
    );
  }
}

/**
 * A host file that is the served region's start only: "pass the matching --region" misled where the file
 * named is the one the arbiter serves, truncated under it (the arbiter stops on that at its next sweep).
 */
function cutShort(region: MappedRegion, hello: Reply<"hello">, endpoint: Endpoint): IvshError {
  return failure(
    "RegionInvalid",
    `use ${region.source} with the arbiter at ${describeEndpoint(endpoint)}`,
    `the file is ${region.size} bytes, the first of the ${hello.regionSize}-byte region that arbiter serves ` +
      "(its header is that arbiter's): it was truncated while in use and its contents are lost (stop the " +
      "arbiter, remove the file and start `ivsh host` again), or it is part of a copy (pass the region the " +
      `arbiter serves: \`ivsh status\` names it${libraryForm("; connect({ region })")})`,
  );
}

/**
 * How many of the arbiter's sweeps a client waits for a header it cannot take to be put back, plus a
 * margin for a loaded host: the arbiter answered, so the header was most likely overwritten (IVSHMEM
 * lets any guest write it) and its next sweep rewrites it.
 */
const RESTORE_SWEEPS = 2;
const RESTORE_MARGIN_MS = 1000;
const RESTORE_POLL_MS = 20;

/**
 * `checkGeometry`, waiting while the header is being put back. A file of another size than the arbiter
 * serves, or a whole header of another arbiter, is another region: refused at once. Anything else that
 * does not match is looked at again until the arbiter's sweeps should have restored it; if they have not,
 * the error says what was seen and that the arbiter answered (not that none serves the region).
 */
export async function settledGeometry(
  region: MappedRegion,
  hello: Reply<"hello">,
  endpoint: Endpoint,
  signal?: AbortSignal,
  /** Whether the region was let go meanwhile (a client closed while it resumed): not to be read again. */
  retired = () => false,
): Promise<Geometry> {
  const waitMs = RESTORE_SWEEPS * sweepPeriodMs(hello.leaseMs) + RESTORE_MARGIN_MS;
  const deadline = performance.now() + waitMs;
  for (;;) {
    try {
      return checkGeometry(region, hello, endpoint);
    } catch (error) {
      // A copy's header is whole: no sweep puts it right.
      const transient =
        region.size === hello.regionSize &&
        !servedByAnother(region, hello) &&
        seesArbiterWrites(region, hello);
      if (!isIvshError(error, "RegionInvalid")) throw error;
      if (!transient) throw deviceMismatch(region, hello, endpoint, error) ?? error;
      // Not put back by the arbiter's sweeps: a device is then another file (of the arbiter's size), and
      // its refusal names the VM's other IVSHMEM device, if any, with the flags that use it.
      if (performance.now() >= deadline)
        throw deviceMismatch(region, hello, endpoint, error) ?? notRestored(region, endpoint, error, waitMs);
      throwIfAborted(signal, "connect to the arbiter");
      await Bun.sleep(RESTORE_POLL_MS);
      if (retired())
        throw failure("ConnectionLost", `use ${region.source}`, "its client was closed meanwhile");
    }
  }
}

/**
 * A valid header naming another arbiter (the "served by another arbiter" refusal). An instance no arbiter
 * chooses is an overwrite (a guest's 8 bytes at offset 48 were refused at once as another arbiter's).
 */
function servedByAnother(region: MappedRegion, hello: Reply<"hello">): boolean {
  try {
    const { arbiterInstance } = region.readHeader();
    return arbiterInstance !== hello.arbiterInstance && isArbiterInstance(arbiterInstance);
  } catch {
    return false;
  }
}

/** Whether an arbiter could have chosen `instance` (src/host/identity.ts: from 1 to 2^48 - 2). */
function isArbiterInstance(instance: number): boolean {
  return Number.isSafeInteger(instance) && instance >= 1 && instance < 2 ** 48 - 1;
}

function notRestored(region: MappedRegion, endpoint: Endpoint, error: IvshError, waitMs: number): IvshError {
  const seen = reasonOf(error);
  return failure(
    "RegionInvalid",
    `use ${region.source} with the arbiter at ${describeEndpoint(endpoint)}`,
    `its header is not valid (${seen}) and was not restored within ${formatWait(waitMs)}, although that ` +
      "arbiter answered and rewrites an overwritten header at its next sweep: something may be overwriting it " +
      "(any guest can write the region), so retry; if it persists, check that this is the region that arbiter " +
      "serves (`ivsh status` names it)",
  );
}

/**
 * Edges of src/guest/connect-options.ts and served-geometry.ts on fixed inputs (mutation round 20): an explicit region wins over
 * IVSH_REGION; the port's whole range; which default endpoint a region given implies; a header's instance
 * past what any arbiter chooses; a header of another arbiter refused at once, not waited on; a wait for an
 * overwritten header ended by the client's close.
 */
import { expect, test } from "bun:test";
import { DEFAULT_GUEST_ARBITER, DEFAULT_SOCKET } from "../src/defaults.ts";
import { failure } from "../src/errors.ts";
import { arbiterEndpoint, parseHostPort, withEnvironment } from "../src/guest/connect-options.ts";
import { checkGeometry, settledGeometry } from "../src/guest/served-geometry.ts";
import type { Reply } from "../src/protocol/messages.ts";
import type { MappedRegion } from "../src/region/mapping.ts";
import { expectFailure, expectRejection } from "./helpers/errors.ts";
import { SCRIPTED_GEOMETRY, SCRIPTED_INSTANCE } from "./helpers/scripted-region.ts";

test("an explicit region wins over IVSH_REGION, which fills in only where none is given", () => {
  const env = { IVSH_REGION: "/env/region" };
  expect(withEnvironment({ region: "/mine" }, env).region).toBe("/mine");
  expect(withEnvironment({}, env).region).toBe("/env/region");
});

test("ports 1 and 65535 are taken; 0 and 65536 are not host:port", () => {
  expect(parseHostPort("127.0.0.1:1")).toEqual({ hostname: "127.0.0.1", port: 1 });
  expect(parseHostPort("[::1]:65535")).toEqual({ hostname: "::1", port: 65535 });
  for (const text of ["127.0.0.1:0", "127.0.0.1:65536"])
    expectFailure(() => parseHostPort(text), "InvalidArgument", /it is not host:port/);
});

test("a region that is a device's resource file means the guest's bridge; any other file the host's socket", () => {
  const guest = parseHostPort(DEFAULT_GUEST_ARBITER);
  expect(guest).toEqual({ hostname: "10.0.2.100", port: 7777 });
  for (const file of ["resource2", "resource2_wc"])
    expect(arbiterEndpoint({ region: `/sys/bus/pci/devices/0000:00:04.0/${file}` })).toEqual(guest);
  expect(arbiterEndpoint({ region: "/dev/shm/ivsh-elsewhere" })).toEqual({ unix: DEFAULT_SOCKET });
  // An explicit socket or address still wins over what the region implies.
  expect(arbiterEndpoint({ region: "/sys/bus/pci/devices/0000:00:04.0/resource2", socket: "/s" })).toEqual({
    unix: "/s",
  });
});

const geometry = SCRIPTED_GEOMETRY;
const INSTANCE = SCRIPTED_INSTANCE;
/** A lease whose sweeps come every 20 ms: a wait for a header to be put back lasts about a second. */
const hello = {
  ...geometry,
  epoch: 3,
  arbiterInstance: INSTANCE,
  arbiterPid: 4321,
  leaseMs: 80,
} as unknown as Reply<"hello">;
const endpoint = { unix: "/run/ivsh/scripted.sock" };

/** A region whose header reads as `header` says, or fails as an overwritten one does. */
function region(header: () => object): MappedRegion {
  return {
    readHeader: header,
    // Says no client greeted (an arbiter older than that word): nothing here is about a copy.
    headerWords: () => new Int32Array(1024),
    size: geometry.regionSize,
    source: "/dev/shm/scripted",
  } as unknown as MappedRegion;
}
const headerOf = (arbiterInstance: number) => () => ({
  ...geometry,
  epoch: 3,
  arbiterInstance,
  arbiterPid: 99,
});

test("a header naming instance 2^48 - 1, which no arbiter chooses, is an overwrite; 2^48 - 2 is another arbiter", () => {
  expectFailure(
    () => checkGeometry(region(headerOf(2 ** 48 - 1)), hello, endpoint),
    "RegionInvalid",
    /its header names arbiter instance ffffffffffff, which no arbiter chooses \(overwritten\?\)$/,
  );
  expectFailure(
    () => checkGeometry(region(headerOf(2 ** 48 - 2)), hello, endpoint),
    "RegionInvalid",
    /that region is served by another arbiter \(pid 99, instance fffffffffffe\)/,
  );
});

test("a region whose whole header names another arbiter is refused as such at once, not waited on", async () => {
  const refusal = await settledGeometry(region(headerOf(INSTANCE + 1)), hello, endpoint).catch(
    (error) => error,
  );
  expect(refusal.code).toBe("RegionInvalid");
  expect(refusal.message).toMatch(
    /^Failed to use \/dev\/shm\/scripted .* since that region is served by another arbiter/,
  );
  expect(refusal.message).not.toMatch(/was not restored/);
});

test("a wait for an overwritten header ends when the client is closed meanwhile", async () => {
  const overwritten = region(() => {
    throw failure("RegionInvalid", "read the header of /dev/shm/scripted", "its magic is 0, not IVSH");
  });
  let looks = 0;
  const retired = () => ++looks >= 2;
  await expectRejection(
    settledGeometry(overwritten, hello, endpoint, undefined, retired),
    "ConnectionLost",
    /use \/dev\/shm\/scripted since its client was closed meanwhile/,
  );
  expect(looks).toBe(2);
});

// Mutation round 32 (headerOfServed): a region of the served size whose header is unreadable is waited
// on, then refused with that header's own reason, not as a region of another size.
test("a header of the served size never put back is refused with its own reason, not a size's", async () => {
  const overwritten = region(() => {
    throw failure("RegionInvalid", "use /dev/shm/scripted", "its header's magic is wrong");
  });
  const refusal = await settledGeometry(overwritten, hello, endpoint).catch((error) => error);
  expect(refusal.message).toContain(
    "its header is not valid (its header's magic is wrong) and was not restored",
  );
  expect(refusal.message).not.toContain("bytes, not the");
});

/**
 * What a resume gives up with (ResumeTries, src/guest/resume-tries.ts): the arbiter's refusal only if its
 * last try was refused. One refused, then unanswered (the arbiter went away again), did not come back.
 */
import { expect, test } from "bun:test";
import { failure, IvshError, reasonOf } from "../src/errors.ts";
import { BridgeRefusal, QueueFull, RefusalUnworded } from "../src/guest/link-errors.ts";
import { ResumeTries, regionCutShort, silentArbiter } from "../src/guest/resume-tries.ts";

const ENDPOINT = { unix: "/tmp/ivsh-resume-tries.sock" };
const LEASE_MS = 60_000;

test("the last try refused: the refusal is what it gives up with", () => {
  const tries = new ResumeTries(LEASE_MS);
  tries.failed(failure("ConnectionLost", "greet the arbiter", "the connection closed during hello"));
  tries.failed(failure("NoSpace", "accept a connection", "the arbiter has as many connections open"));
  const given = tries.givenUp(ENDPOINT, 5000);
  expect(given.code).toBe("NoSpace");
  expect(given.message).toContain("it refused this client until the reconnect timeout");
});

test("refused, then a try that found no arbiter: it did not come back, the old refusal is not told", () => {
  const tries = new ResumeTries(LEASE_MS);
  tries.failed(failure("NoSpace", "accept a connection", "the arbiter has as many connections open"));
  tries.failed(failure("ConnectionLost", "greet the arbiter", "the connection closed during hello"));
  const given = tries.givenUp(ENDPOINT, 5000);
  expect(given.code).toBe("ConnectionLost");
  expect(given.message).toContain("did not come back");
  expect(given.message).not.toContain("refused");
});

// Mutation round 29 (src/guest/resume-tries.ts): the cases below were reached by no test.
const refusedAccess = () =>
  new IvshError(
    "ArbiterUnreachable",
    "Failed to connect to the arbiter at /run/ivsh/arbiter.sock since this user may not open it (EACCES)",
    { cause: Object.assign(new Error("Failed to connect"), { code: "EACCES" }) },
  );

test("a full accept queue or a bridge's refusal last: told as a refusal (ConnectionLost), not as an arbiter to start", () => {
  for (const last of [
    new QueueFull("Failed to connect to the arbiter since its queue of connections is full", {}),
    new BridgeRefusal("Failed to greet the arbiter since the VM's bridge could not reach it"),
  ]) {
    const tries = new ResumeTries(LEASE_MS);
    tries.failed(last);
    const given = tries.givenUp(ENDPOINT, 5000);
    expect(given.code).toBe("ConnectionLost");
    expect(given.message).toBe(
      `Failed to reach the arbiter at ${ENDPOINT.unix} again since it refused this client until the reconnect ` +
        `timeout (5 s) ran out: ${reasonOf(last)}`,
    );
  }
});

test("no try, or one that failed with no IvshError: it did not come back", () => {
  const none = new ResumeTries(LEASE_MS).givenUp(ENDPOINT, 5000);
  const odd = new ResumeTries(LEASE_MS);
  odd.failed(new Error("odd"));
  for (const given of [none, odd.givenUp(ENDPOINT, 5000)]) {
    expect(given.code).toBe("ConnectionLost");
    expect(given.message).toContain("it went away and did not come back within 5 s");
  }
});

test("refused access (EACCES) past the lease since the link dropped ends the session; just dropped, it is retried", async () => {
  const past = new ResumeTries(LEASE_MS, performance.now() - 2 * LEASE_MS).failed(refusedAccess());
  expect(past?.code).toBe("LeaseExpired");
  expect(past?.message).toEndWith(
    "what this client held may be another's now (connect to the arbiter at /run/ivsh/arbiter.sock since this " +
      "user may not open it (EACCES))",
  );
  // The link dropped now (the default): a lease shorter than this process has run is not yet past.
  await Bun.sleep(200);
  const leaseMs = Math.floor(performance.now() / 2);
  expect(new ResumeTries(leaseMs).failed(refusedAccess())).toBeUndefined();
});

test("a silent arbiter's refusal says how long it was silent, not the limit", () => {
  expect(silentArbiter(45_000, 30_000)?.message).toBe(
    "Failed to hear from the arbiter since it answered nothing for 45 s with its connection open (its process " +
      "may be stopped, or overloaded)",
  );
});

test("a last try's refusal left unworded (as a retry leaves it) is worded before it is judged", () => {
  // Out of descriptors: this process's lack, whose words (NoSocketMade) are built only by worded().
  const tries = new ResumeTries(LEASE_MS);
  tries.failed(
    new RefusalUnworded(ENDPOINT, Object.assign(new Error("socket"), { code: "EMFILE" }), undefined),
  );
  const given = tries.givenUp(ENDPOINT, 5000);
  expect(given.message).toContain(
    "every try until the reconnect timeout (5 s) ran out failed in this process",
  );
  expect(given.message).not.toContain("did not come back");
});

// Mutation round 32 (regionCutShort): only a file cut to a fraction of its size was reached by a test.
const mappedFile = (fileSize: () => number) => ({ fileSize, size: 1 << 20, source: "/dev/shm/ivsh-mut37" });

test("a region file even one byte short of the mapping is cut short; one as long as it is not", () => {
  expect(regionCutShort(mappedFile(() => 1 << 20))).toBeUndefined();
  expect(regionCutShort(mappedFile(() => (1 << 20) + 4096))).toBeUndefined();
  expect(regionCutShort(mappedFile(() => (1 << 20) - 1))?.message).toContain(
    `the file was truncated to ${(1 << 20) - 1} bytes (from ${1 << 20}) while in use`,
  );
});

test("a region file it cannot look at is not judged cut short", () => {
  const unstattable = mappedFile(() => {
    throw failure("RegionInvalid", "look at /dev/shm/ivsh-mut37", "fstat failed (EBADF)");
  });
  expect(regionCutShort(unstattable)).toBeUndefined();
});

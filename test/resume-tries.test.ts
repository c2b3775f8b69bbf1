/**
 * What a resume gives up with (ResumeTries, src/guest/resume-tries.ts): the arbiter's refusal only if its
 * last try was refused. One refused, then unanswered (the arbiter went away again), did not come back.
 */
import { expect, test } from "bun:test";
import { failure } from "../src/errors.ts";
import { ResumeTries } from "../src/guest/resume-tries.ts";

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

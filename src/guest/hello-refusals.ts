/**
 * A hello the arbiter refused, told as a failure to connect to that arbiter: its own words are written
 * from its side ("Failed to greet the client since ...", "Failed to record a change ...").
 */
import { IvshError, isIvshError } from "../errors.ts";
import { describeEndpoint, type Endpoint } from "./link-errors.ts";

/**
 * A hello the arbiter refused because its --state journal could not record the session (its file system
 * full, read-only, failing): the arbiter's own words ("Failed to record a change in the state journal PATH
 * since ...") said neither that connecting failed nor to which arbiter. Undefined for any other error.
 */
export function journalRefusedHello(endpoint: Endpoint, error: unknown): IvshError | undefined {
  if (!(error instanceof IvshError)) return undefined;
  // The journal's path, unless an older arbiter's (or the fake in test/cli-no-arbiter.test.ts) left it out.
  const refused = /^Failed to record a change in the state journal( .*?)? since (.*)$/s.exec(error.message);
  if (!refused) return undefined;
  const [, journal = "", why] = refused;
  return new IvshError(
    error.code,
    `Failed to connect to the arbiter at ${describeEndpoint(endpoint)} since it could not record the session in its state journal${journal}: ${why}`,
    { cause: error },
  );
}

/**
 * A hello the arbiter refused as of another protocol version: its words ("Failed to greet the client since
 * it speaks protocol version 3 and this arbiter speaks 1") named neither the arbiter nor which side to
 * upgrade. Undefined for any other error.
 */
export function versionRefusedHello(endpoint: Endpoint, error: unknown): IvshError | undefined {
  if (!isIvshError(error, "VersionMismatch")) return undefined;
  const refused = /speaks protocol version (\d+) and this arbiter speaks (\d+)/.exec(error.message);
  if (!refused) return undefined;
  const [ours, theirs] = [Number(refused[1]), Number(refused[2])];
  const which =
    theirs < ours
      ? "(the arbiter runs an older ivsh): upgrade it and restart it, or run its release here"
      : "(the arbiter runs a newer ivsh): upgrade this one, or run the arbiter's release";
  return new IvshError(
    error.code,
    `Failed to connect to the arbiter at ${describeEndpoint(endpoint)} since it speaks protocol version ${theirs} and this ivsh speaks ${ours} ${which}`,
    { cause: error },
  );
}

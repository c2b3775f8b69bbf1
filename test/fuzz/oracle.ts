/**
 * What the arbiter may answer to a well-formed request in the ready phase, per docs/protocol.md section 5:
 * which error codes, whether a reply may come, and what a reply must say. Arguments that are wrong
 * whatever the state (a bad mode, both sizes, a name too long, word 16, count 0) must be refused, in the
 * order the doc lists the checks; everything that depends on other clients is allowed either way.
 */
import type { ErrorCodeName } from "../../src/errors.ts";
import { MAX_NAME_BYTES, type MessageName, WAIT_FOREVER, WaitOutcome } from "../../src/protocol/messages.ts";
import { SLOT_WORDS } from "../../src/region/layout.ts";
import type { Fields } from "./wire.ts";

export interface Verdict {
  /**
   * answer: exactly one reply or error, in order; optional: at most an error (a one-way wake);
   * wait: one answer, possibly after `parkMs`; fatal: an error, then the connection closes.
   */
  mode: "answer" | "optional" | "wait" | "fatal";
  codes: readonly ErrorCodeName[];
  reply: boolean;
  /** What is wrong with a reply, if anything. */
  check?: (reply: Fields) => string | undefined;
  /** How long a wait may stay parked; undefined: possibly until the connection closes. */
  parkMs?: number;
  /** bye: the reply is the last frame, then the connection closes. */
  closes?: boolean;
}

export interface Geometry {
  blockSize: number;
  blockCount: number;
  slotCount: number;
}

export interface OracleContext {
  geometry: Geometry;
  leaseMs: number;
}

/** Longest park the fuzzer waits out before calling an unanswered wait a stall. */
const LONGEST_PARK_MS = 60_000;
const VALID_MODES = new Set([1, 2, 3]);

const answer = (codes: ErrorCodeName[], check?: Verdict["check"]): Verdict => ({
  mode: "answer",
  codes,
  reply: true,
  check,
});
const refused = (...codes: ErrorCodeName[]): Verdict => ({ mode: "answer", codes, reply: false });

function nameProblem(name: string, optional: boolean): boolean {
  return (!optional && name === "") || Buffer.byteLength(name) > MAX_NAME_BYTES;
}

function grantProblem(grant: Fields, want: Fields, geometry: Geometry): string | undefined {
  for (const [key, value] of Object.entries(want))
    if (grant[key] !== value) return `its ${key} is ${grant[key]}, asked for ${value}`;
  const first = grant.firstBlock as number;
  const count = grant.blockCount as number;
  if (count < 1 || first + count > geometry.blockCount)
    return `blocks ${first}+${count} are outside the region's ${geometry.blockCount}`;
  if ((grant.bytes as number) > count * geometry.blockSize || (grant.bytes as number) < 1)
    return `${grant.bytes} bytes do not fit its ${count} blocks`;
  return undefined;
}

function alloc(request: Fields, { geometry }: OracleContext): Verdict {
  const bytes = request.bytes as number;
  const blocks = request.blocks as number;
  const count = blocks || Math.ceil(bytes / geometry.blockSize);
  if (!VALID_MODES.has(request.mode as number)) return refused("InvalidArgument");
  if (bytes > 0 === blocks > 0) return refused("InvalidArgument");
  if (count > geometry.blockCount) return refused("NoSpace");
  if (nameProblem(request.name as string, true)) return refused("InvalidArgument");
  const want = {
    blockCount: count,
    bytes: bytes || count * geometry.blockSize,
    mode: request.mode!,
    name: request.name!,
  };
  return answer(["AlreadyExists", "QuotaExceeded", "NoSpace"], (grant) =>
    grantProblem(grant, want, geometry),
  );
}

function open(request: Fields, { geometry }: OracleContext): Verdict {
  if (!VALID_MODES.has(request.mode as number)) return refused("InvalidArgument");
  if (nameProblem(request.name as string, false)) return refused("InvalidArgument");
  const want = { mode: request.mode!, name: request.name! };
  return answer(["InvalidArgument", "NotFound", "PermissionDenied"], (grant) =>
    grantProblem(grant, want, geometry),
  );
}

function syncOpen(request: Fields, { geometry }: OracleContext): Verdict {
  const create = request.create as number;
  if (create > 2) return refused("InvalidArgument");
  if (![1, 2, 3].includes(request.kind as number)) return refused("InvalidArgument");
  if (nameProblem(request.name as string, false)) return refused("InvalidArgument");
  return answer(["InvalidArgument", "AlreadyExists", "NotFound", "NoSpace"], (reply) => {
    if ((reply.slot as number) >= geometry.slotCount) return `slot ${reply.slot} is beyond the last`;
    if (reply.generation === 0) return "its generation is 0";
    if (create === 0 && reply.created !== 0) return "it created an object on open-existing";
    if (create === 2 && reply.created !== 1) return "create-new did not create";
    return reply.created === 0 || reply.created === 1 ? undefined : `created is ${reply.created}`;
  });
}

function wait(request: Fields): Verdict {
  if ((request.word as number) >= SLOT_WORDS) return refused("NotHeld", "InvalidArgument");
  const timeoutMs = request.timeoutMs as number;
  const bounded = timeoutMs !== WAIT_FOREVER && timeoutMs <= LONGEST_PARK_MS;
  return {
    mode: "wait",
    codes: ["NotHeld", "QuotaExceeded"],
    reply: true,
    parkMs: bounded ? timeoutMs : undefined,
    check: (reply) => {
      const outcome = reply.outcome as number;
      if (outcome > WaitOutcome.timedOut) return `outcome ${outcome} is not 0, 1 or 2`;
      return timeoutMs === 0 && outcome === WaitOutcome.woken
        ? "a wait with timeout 0 was parked"
        : undefined;
    },
  };
}

function wake(request: Fields): Verdict {
  if (request.count === 0) return refused("InvalidArgument");
  if (request.reply !== 0)
    return answer(["NotHeld", "InvalidArgument"], (reply) =>
      (reply.woken as number) > (request.count as number)
        ? `woke ${reply.woken} of ${request.count}`
        : undefined,
    );
  return { mode: "optional", codes: ["NotHeld", "InvalidArgument"], reply: false };
}

function status(): Verdict {
  return answer(["InvalidArgument"], (reply) => {
    try {
      const report = JSON.parse(reply.json as string) as { clients?: unknown };
      return Array.isArray(report.clients) ? undefined : "its JSON has no clients";
    } catch (error) {
      return `its JSON does not parse: ${String(error)}`;
    }
  });
}

const verdicts: Partial<Record<MessageName, (request: Fields, context: OracleContext) => Verdict>> = {
  alloc,
  open,
  free: () =>
    answer(["NotHeld"], (reply) =>
      (reply.released as number) > 1 ? `released ${reply.released}` : undefined,
    ),
  syncOpen,
  syncClose: () => answer(["NotHeld"]),
  wait,
  wake,
  heartbeat: (_request, { leaseMs }) =>
    answer([], (reply) =>
      reply.leaseMs === leaseMs ? undefined : `lease ${reply.leaseMs}, hello said ${leaseMs}`,
    ),
  status,
  bye: () => ({ ...answer([]), closes: true }),
};

/** The verdict for a well-formed request other than hello and identify, in the ready phase. */
export function judgeRequest(name: MessageName, request: Fields, context: OracleContext): Verdict {
  const verdict = verdicts[name];
  if (!verdict) throw new Error(`fuzzer bug: no verdict for ${name} in the ready phase`);
  return verdict(request, context);
}

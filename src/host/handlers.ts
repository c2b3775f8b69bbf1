/**
 * One function per operation. Each gets a decoded, validated-in-shape request and returns its reply, or
 * undefined when the reply comes later (a parked wait). They throw IvshError for requests that cannot be
 * granted; ./dispatch.ts turns that into an error reply.
 */
import { failure } from "../errors.ts";
import {
  AccessMode,
  type AccessModeName,
  accessModeName,
  isVmName,
  type MessageName,
  messages,
  type Reply,
  type Request,
  type SegmentGrantFields,
  SyncCreate,
  VM_NAME_RULE,
  WaitOutcome,
} from "../protocol/messages.ts";
import { noteGreeted } from "../region/header.ts";
import { blockOffset, SLOT_WORDS, SlotKind, type SlotKindName } from "../region/layout.ts";
import type { ArbiterView } from "./arbiter-view.ts";
import type { Connection } from "./connection.ts";
import { arbiterIdentity } from "./identity.ts";
import { lockAbandoned, requestRefused, sessionStarted } from "./oplog.ts";
import type { Segment, Session } from "./recorded-state.ts";
import { statusJson, statusReport } from "./status.ts";
import { MAX_PARKED_WAITS } from "./wait-queue.ts";

type Handler<N extends MessageName> = (
  arbiter: ArbiterView,
  connection: Connection,
  request: Request<N>,
  requestId: number,
) => Reply<N> | undefined;

export const handlers: { [N in MessageName]: Handler<N> } = {
  identify(arbiter, connection, { vm }, requestId) {
    if (!isVmName(vm))
      throw failure("ProtocolState", "identify the VM", `'${vm}' is not a VM name (${VM_NAME_RULE})`);
    connection.identifyAs(vm);
    arbiter.inbox?.noteRelayed(vm);
    const refused = arbiter.connections.joinVm(connection.socket);
    if (!refused) return {};
    // Closed, not left open: identified and uncounted, it could go on to say hello.
    requestRefused(0, vm, "identify", refused);
    connection.failAndClose(messages.identify.op, requestId, refused);
    return undefined;
  },

  handover(arbiter, _connection, { nonce }) {
    arbiter.adoptHandedOver(nonce);
    return {};
  },

  hello(arbiter, connection, request) {
    connection.saidHello = true;
    checkVmConnections(arbiter, connection, request.sessionToken !== "");
    const session = request.sessionToken
      ? resume(arbiter, connection, request.sessionToken)
      : arbiter.state.openSession(request.clientName, request.pid, connection.vm);
    arbiter.attach(session.clientId, connection);
    connection.phase = "ready";
    sessionStarted(session, Boolean(request.sessionToken));
    noteGreeted(arbiter.region.headerWords(), session.clientId, arbiter.epoch);
    const { geometry } = arbiter.state;
    return {
      clientId: session.clientId,
      epoch: arbiter.epoch,
      sessionToken: session.token,
      leaseMs: arbiter.options.leaseMs,
      resumed: request.sessionToken ? 1 : 0,
      vm: session.vm,
      ...geometry,
      ...arbiterIdentity,
    };
  },

  alloc(arbiter, connection, { bytes, blocks, mode, name }) {
    const session = sessionOf(arbiter, connection);
    const segment = arbiter.state.allocate(session, bytes, blocks, modeOf(mode), name);
    // Fresh segments read as zero, as shmget's do: never a previous holder's data.
    const { blockSize } = arbiter.state.geometry;
    arbiter.region.zero(
      blockOffset(arbiter.state.geometry, segment.firstBlock),
      segment.blockCount * blockSize,
    );
    return grantReply(segment, session);
  },

  open(arbiter, connection, { name, mode }) {
    const session = sessionOf(arbiter, connection);
    return grantReply(arbiter.state.open(session, name, modeOf(mode)), session);
  },

  free(arbiter, connection, { segmentId }) {
    return { released: arbiter.state.free(sessionOf(arbiter, connection), segmentId) ? 1 : 0 };
  },

  syncOpen(arbiter, connection, { name, kind, create }) {
    if (create > SyncCreate.createNew)
      throw failure(
        "InvalidArgument",
        `open '${name}'`,
        `create ${create} is not 0 (open), 1 (open or create) or 2 (create new)`,
      );
    const session = sessionOf(arbiter, connection);
    const { object, created } = arbiter.state.openSync(session, name, kindOf(kind), create);
    return { slot: object.slot, generation: object.generation, created: created ? 1 : 0 };
  },

  syncClose(arbiter, connection, { slot }) {
    const session = sessionOf(arbiter, connection);
    arbiter.state.closeSync(session, slot, (abandoned) => {
      if (abandoned) lockAbandoned(session, abandoned);
      // A wait this client left parked on the slot would stay first in line: a wake for one waiter would
      // be spent on it while the holder it was meant for slept on. Wake them all; every waiter re-checks.
      arbiter.wakeSlot(slot);
    });
    return {};
  },

  wait(arbiter, connection, { slot, word, expected, timeoutMs }, requestId) {
    const key = heldWord(arbiter, connection, slot, word);
    // The futex check: park only if the word still holds what the caller saw. A waker changes the word
    // before it sends wake, so either we see the change here or the wake finds us parked.
    if (arbiter.slots.loadAt(key) !== expected) return { outcome: WaitOutcome.valueChanged };
    if (timeoutMs === 0) return { outcome: WaitOutcome.timedOut };
    if (arbiter.waits.parkedBy(connection.clientId) >= MAX_PARKED_WAITS)
      throw failure(
        "QuotaExceeded",
        `park a wait on word ${word} of slot ${slot}`,
        `client ${connection.clientId} already has ${MAX_PARKED_WAITS} waits parked, the most one client may ` +
          "(let some of them be woken or time out first)",
      );
    // False for a connection being closed (a fatal error, a peer that stopped reading) or whose peer closed
    // its socket (a write failed, the close event not yet handled): nothing reaches it.
    const settle = (outcome: number) => {
      connection.reply("wait", requestId, { outcome });
      return !connection.unreachable;
    };
    arbiter.waits.park(key, { clientId: connection.clientId, requestId, expected, settle }, timeoutMs);
    return undefined;
  },

  wake(arbiter, connection, { slot, word, count, reply }) {
    if (count === 0) throw failure("InvalidArgument", `wake slot ${slot}`, "the count is 0");
    const woken = arbiter.waits.wake(heldWord(arbiter, connection, slot, word), count);
    // Sent by a waker that saw sleepers of another kernel parked: if that kernel is ours, wake them.
    arbiter.hostWakes?.wakeWord(slot, word, count);
    return reply ? { woken } : undefined;
  },

  heartbeat(arbiter) {
    return { leaseMs: arbiter.options.leaseMs };
  },

  status(arbiter, connection, request) {
    const requester = { clientId: connection.clientId, vm: connection.vm };
    return { json: statusJson(statusReport(arbiter, request, requester)) };
  },

  bye(arbiter, connection, _request, requestId) {
    arbiter.endSession(connection.clientId, "said goodbye");
    connection.reply("bye", requestId, {});
    connection.close();
    return undefined;
  },
};

/**
 * --vm-connections at hello: a host process's connection counts from now (a status query's or a bridge's
 * never says hello), and a new session needs a connection of its VM without one (after a restart with a
 * lower limit, its sessions come back, but no new one opens until they are fewer than the limit).
 */
function checkVmConnections(arbiter: ArbiterView, connection: Connection, resuming: boolean): void {
  const refused = connection.identified ? undefined : arbiter.connections.joinVm(connection.socket, resuming);
  if (refused) throw refused;
  if (resuming) return;
  const connected = () => {
    let count = 0;
    for (const clientId of arbiter.state.clientsByVm.get(connection.vm) ?? [])
      if (arbiter.connectionOf(clientId)) count++;
    return count;
  };
  const tooMany = arbiter.connections.newSessionRefusal(connection.vm, connected);
  if (tooMany) throw tooMany;
}

function resume(arbiter: ArbiterView, connection: Connection, token: string): Session {
  const session = arbiter.state.sessionByToken(token);
  if (!session)
    throw failure(
      "SessionUnknown",
      "resume the session",
      "the arbiter no longer knows it (it was reclaimed when its lease ran out, or the state was reset)",
    );
  const current = arbiter.connectionOf(session.clientId);
  if (current && current !== connection && current.phase !== "closing")
    throw failure(
      "ProtocolState",
      `resume client ${session.clientId}`,
      "another connection is using that session",
    );
  if (session.vm !== connection.vm)
    throw failure(
      "PermissionDenied",
      `resume client ${session.clientId}`,
      `the session belongs to VM '${session.vm}'`,
    );
  // Waits parked on the connection being replaced can never be answered (it is closing); left parked,
  // they would take the wake-ups meant for this session's waits on its new connection.
  arbiter.waits.dropClient(session.clientId);
  return session;
}

function sessionOf(arbiter: ArbiterView, connection: Connection): Session {
  return arbiter.state.session(connection.clientId);
}

function modeOf(value: number): AccessModeName {
  const mode = accessModeName(value);
  if (!mode)
    throw failure(
      "InvalidArgument",
      "grant access",
      `mode ${value} is not read (1), write (2) or write-exclusive (3)`,
    );
  return mode;
}

function kindOf(value: number): SlotKindName {
  const kind = (Object.keys(SlotKind) as (keyof typeof SlotKind)[]).find((name) => SlotKind[name] === value);
  if (!kind || kind === "free")
    throw failure("InvalidArgument", "open a synchronisation object", `kind ${value} is unknown`);
  return kind;
}

function heldWord(arbiter: ArbiterView, connection: Connection, slot: number, word: number): number {
  arbiter.state.heldSlot(sessionOf(arbiter, connection), slot);
  if (word >= SLOT_WORDS)
    throw failure("InvalidArgument", `use word ${word} of slot ${slot}`, `a slot has ${SLOT_WORDS} words`);
  return arbiter.slots.index(slot, word);
}

function grantReply(segment: Segment, session: Session): SegmentGrantFields {
  const mode = session.grants.get(segment.id)!;
  const { id: segmentId, firstBlock, blockCount, bytes, name } = segment;
  return { segmentId, firstBlock, blockCount, bytes, mode: AccessMode[mode], name };
}

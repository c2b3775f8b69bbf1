/**
 * The arbiter: owns the region's metadata and serves the protocol on a Unix socket. This file holds its
 * lifecycle and client liveness; request handling is in ./dispatch.ts, start-up in ./start.ts and ./setup.ts.
 *
 * Liveness: a closed connection ends its session at once. A connection that stays open while its client
 * is frozen (SIGSTOP, a paused VM) is caught by the lease: no frame for `leaseMs` (seen by two sweeps, a
 * quarter lease apart at most) and the session ends; the client is told at once (an error frame with
 * request id 0) and its later frames are answered "lease expired". Sessions restored after a restart have
 * `leaseMs` from the restart to reconnect.
 */
import type { Socket, SocketHandler } from "bun";
import { failure } from "../errors.ts";
import { closeFd, openFileLimit } from "../ffi/index.ts";
import { log } from "../log.ts";
import { messages, sweepPeriodMs } from "../protocol/messages.ts";
import { SLOT_WORDS, WAKE_ALL } from "../region/layout.ts";
import type { MappedRegion } from "../region/mapping.ts";
import type { ArbiterOptions, ArbiterView, Liveness } from "./arbiter-view.ts";
import { Compactor } from "./compaction.ts";
import { Connection } from "./connection.ts";
import { ConnectionLimit } from "./connection-limit.ts";
import { handleData, handleDrain } from "./dispatch.ts";
import { connectFd, HandoverInbox, handoverPath } from "./handover.ts";
import { HostWakes } from "./host-wakes.ts";
import { arbiterIdentity } from "./identity.ts";
import { JournalKeeper } from "./journal-keeper.ts";
import { JournalOutage, RefusedUpFront } from "./journal-outage.ts";
import { LateEnds } from "./late-ends.ts";
import { type ArbiterListener, listenUnix } from "./listener.ts";
import { type EndReason, requestRefused, sessionEnded } from "./oplog.ts";
import { RegionGuard } from "./region-guard.ts";
import { RegionWatch } from "./region-watch.ts";
import { eachOnItsOwn, runInSlices } from "./slices.ts";
import type { RegionSlots } from "./slots.ts";
import type { ArbiterState } from "./state.ts";
import { JournalWriteFailed, type StateFile } from "./state-file.ts";
import { loadStateFile } from "./state-read.ts";
import { notifyProblems } from "./systemd.ts";
import { TransferWatch } from "./transfers.ts";
import { WaitQueue } from "./wait-queue.ts";

export type { ArbiterOptions } from "./arbiter-view.ts";

export class Arbiter implements ArbiterView {
  readonly waits = new WaitQueue();
  readonly liveness = new Map<number, Liveness>();
  readonly startedMs = performance.now();
  /** Sessions with a connection now (restored ones count once they resume): kept, not counted per status. */
  connectedCount = 0;
  private server: ArbiterListener | undefined;
  readonly guard: RegionGuard;
  private readonly regionWatch: RegionWatch;
  readonly transfers: TransferWatch;
  /** The host's futex sleepers, which the arbiter wakes for wakers in guests and for dead holders. */
  readonly hostWakes: HostWakes | undefined;
  private sweeper: ReturnType<typeof setInterval> | undefined;
  private lastSweepMs = performance.now();
  /** Time the arbiter could not run (SIGSTOP, starved): not a client's silence (its heartbeats sat unread). */
  private stalledMs = 0;
  private stopped = false;
  /** Guest connections a bridge handed over: the listener does not know them, so stop() closes them. */
  private readonly adopted = new Set<Socket<Connection>>();
  inbox: HandoverInbox | undefined;
  private readonly compactor: Compactor;
  private readonly journalKeeper: JournalKeeper;
  /** The sweep's scans still going in slices (./slices.ts): a sweep due meanwhile skips its own. */
  private scanning: Promise<void> | undefined;
  private readonly failure = Promise.withResolvers<Error>();
  readonly connections = new ConnectionLimit(() => this.inbox?.waitingCount ?? 0, openFileLimit, {
    limit: () => this.options.vmConnections ?? 0,
    sessions: (vm) => this.state.clientsByVm.get(vm)?.size ?? 0,
  });
  readonly journalOutage = new JournalOutage();
  /** Sessions that ended while the journal could not record it (their locks released), to record it. */
  readonly lateEnds = new LateEnds(this.journalOutage, this);

  constructor(
    readonly options: ArbiterOptions,
    readonly region: MappedRegion,
    readonly state: ArbiterState,
    readonly slots: RegionSlots,
    private readonly stateFile: StateFile,
    /** Things worth telling the operator about start-up (state recovered, discarded, ...). */
    readonly notes: string[],
  ) {
    this.guard = new RegionGuard(region.syncWords(state.geometry), slots, () => ({
      ...state.geometry,
      epoch: state.epoch,
      ...arbiterIdentity,
    }));
    this.regionWatch = new RegionWatch(region, options.regionPath);
    this.hostWakes = HostWakes.open(options.regionPath, state.geometry.slotCount, slots, notes);
    this.transfers = new TransferWatch(state, slots, region);
    this.compactor = new Compactor(stateFile);
    this.journalKeeper = new JournalKeeper(stateFile, this.compactor, () =>
      state.snapshot(options.regionPath),
    );
    state.attachJournal(this.journalOutage.gate(stateFile));
  }

  private get sweepPeriodMs(): number {
    return sweepPeriodMs(this.options.leaseMs);
  }

  /** Settles, with the error to report, if the arbiter cannot go on serving (its region truncated under it). */
  get failed(): Promise<Error> {
    return this.failure.promise;
  }

  get epoch(): number {
    return this.state.epoch;
  }

  get compactions(): number {
    return this.compactor.completed;
  }

  /** What every connection's socket does, whether it connected here or was handed over by a bridge. */
  private handlers(vm?: string): SocketHandler<Connection> {
    const closed = (socket: Socket<Connection>) => {
      this.connections.left(socket);
      this.adopted.delete(socket);
      this.connectionClosed(socket.data);
    };
    return {
      open: (socket) => {
        socket.data = new Connection(socket, this.options.helloWaitMs);
        if (!this.connections.letIn(socket) || vm === undefined) return;
        // Adopted after stop() began (connectFd is asynchronous): nobody would close it.
        if (this.stopped) return void socket.terminate();
        socket.data.identifyAs(vm);
        this.adopted.add(socket);
        const refused = this.connections.joinVm(socket);
        if (refused) requestRefused(0, vm, "handover", refused);
        if (refused) socket.data.failAndClose(0, 0, refused);
      },
      // Nothing is served once stop() began: the region may be unmapped already.
      data: (socket, bytes) => {
        if (!this.stopped) handleData(this, socket.data, bytes);
      },
      drain: (socket) => handleDrain(this, socket.data, this.stopped),
      close: closed,
      error: closed,
    };
  }

  listen(): void {
    this.inbox = HandoverInbox.open(this.options.socketPath, () => this.connections.hasRoom());
    this.server = listenUnix(this.options.socketPath, this.handlers());
    this.sweeper = setInterval(() => this.sweep(), this.sweepPeriodMs);
  }

  /** Registers a session as live on `connection` (a new session or a resumed one). */
  attach(clientId: number, connection: Connection): void {
    this.lateEnds.refuseResume(clientId);
    if (!this.liveness.get(clientId)?.connection) this.connectedCount++;
    this.liveness.set(clientId, {
      connection,
      lastSeenMs: performance.now(),
      stalledAtSeenMs: this.stalledMs,
    });
    connection.clientId = clientId;
  }

  touch(clientId: number): void {
    const live = this.liveness.get(clientId);
    if (!live) return;
    live.lastSeenMs = performance.now();
    live.stalledAtSeenMs = this.stalledMs;
  }

  connectionOf(clientId: number): Connection | undefined {
    return this.liveness.get(clientId)?.connection;
  }

  /** Ends a session for good: gives back what it held and wakes whoever waits on what it held. */
  endSession(clientId: number, reason: EndReason): void {
    const session = this.state.sessions.get(clientId);
    if (!session) return;
    this.waits.dropClient(clientId);
    const held = [...session.slots];
    let ended: ReturnType<ArbiterState["endSession"]>;
    try {
      ended = this.transaction(() => this.state.endSession(clientId));
    } catch (error) {
      if (!(error instanceof JournalWriteFailed)) throw error;
      // The journal still has the session, and so has memory again: its end is recorded later (late-ends.ts).
      // Its waiters are woken all the same: one woken as its client closed spent a wake-up meant for another.
      for (const slot of held) this.wakeSlot(slot);
      if (this.liveness.get(clientId)?.connection) this.connectedCount--;
      this.awaitWithoutConnection(clientId);
      this.lateEnds.notRecorded(clientId, reason); // how it ended, not a retry
      return;
    }
    const { wake, released } = ended;
    // A goodbye recorded only later is told as the goodbye it was, not as a lost lease.
    const late = this.lateEnds.recorded(clientId);
    sessionEnded(session, late ?? reason, released, late !== undefined);
    for (const slot of wake) this.wakeSlot(slot);
    if (this.liveness.get(clientId)?.connection) this.connectedCount--;
    this.liveness.delete(clientId);
  }

  /**
   * Journals everything `change` does to the state in one write. One the journal could not take (a full
   * file system) is undone in memory too, so the arbiter never holds what a restart would not bring back.
   */
  transaction<T>(change: () => T): T {
    const writes = this.stateFile.writes;
    try {
      const result = this.stateFile.transaction(() => this.journalOutage.transaction(change));
      if (this.stateFile.writes !== writes) this.journalOutage.recorded(this.stateFile.path);
      return result;
    } catch (error) {
      if (error instanceof JournalWriteFailed) this.undoUnrecorded(error);
      throw error;
    }
  }

  /** A session kept without a connection: it gets a lease, from now, to come back (or to be ended then). */
  private awaitWithoutConnection(clientId: number): void {
    this.liveness.set(clientId, {
      connection: undefined,
      lastSeenMs: performance.now(),
      stalledAtSeenMs: this.stalledMs,
    });
  }

  /** Memory back to what the journal holds, with liveness and slot identities to match. */
  private undoUnrecorded(error: JournalWriteFailed): void {
    if (!(error instanceof RefusedUpFront))
      this.state.reload(loadStateFile(this.stateFile.ownName)?.records ?? []);
    for (const [clientId, live] of this.liveness) {
      if (this.state.sessions.has(clientId)) continue;
      // A hello whose session could not be recorded: its connection may say hello again.
      this.liveness.delete(clientId);
      if (!live.connection) continue;
      this.connectedCount--;
      live.connection.clientId = 0;
      live.connection.phase = "greeting";
    }
    // A session whose end could not be recorded (a goodbye): it ends when its lease runs out, retried then.
    for (const clientId of this.state.sessions.keys())
      if (!this.liveness.has(clientId)) this.awaitWithoutConnection(clientId);
    // A slot set up for an object that is not recorded after all: free again, as the guard expects.
    for (let slot = 0; slot < this.state.geometry.slotCount; slot++) {
      const object = this.state.syncObjects.get(slot);
      this.slots.restoreIdentity(slot, object?.kind, object?.generation ?? 0);
    }
    this.journalOutage.refusedChange(error);
  }

  /**
   * Adopts the guest connection a bridge handed over under `nonce`: from now on it is an ordinary
   * connection of that VM, read and written by the arbiter itself (the bridge exits).
   */
  adoptHandedOver(nonce: string): void {
    const handed = this.inbox?.take(nonce);
    if (!handed)
      throw failure(
        "ProtocolState",
        "adopt a handed-over connection",
        `nothing was handed over under that nonce (send the datagram to ${handoverPath(this.options.socketPath)} first)`,
      );
    connectFd<Connection>({ fd: handed.fd, socket: this.handlers(handed.vm) }).catch((error: unknown) => {
      closeFd(handed.fd);
      log.warn(`could not adopt the connection of VM '${handed.vm}' (fd ${handed.fd}): ${error}`);
    });
  }

  /** Wakes every waiter on any word of `slot` so each re-checks what it waits for. */
  wakeSlot(slot: number): void {
    for (let word = 0; word < SLOT_WORDS; word++) this.waits.wake(this.slots.index(slot, word), WAKE_ALL);
    this.hostWakes?.wakeSlot(slot);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.sweeper);
    this.waits.clear(); // their timers would keep the process up to a wait's timeout after the stop
    this.server?.stop();
    // The listener's stop closes only the connections it accepted: a handed-over one is closed here, or
    // its next frame would be served from an unmapped region (a guest's heartbeat: Bun's segfault).
    for (const socket of this.adopted) socket.terminate();
    this.inbox?.close();
    this.compactor.stop();
    this.stateFile.close();
    this.hostWakes?.close();
    this.region.close();
  }

  private connectionClosed(connection: Connection): void {
    connection.socketClosed();
    // Stopping closes every connection: those sessions stay in the state, to be resumed after a restart.
    if (this.stopped) return;
    const clientId = connection.clientId;
    // A client killed by the region's truncation (SIGBUS) is a likely reason its connection closed: ending
    // its session releases its locks in the missing pages, and the arbiter faulted there in turn.
    if (clientId !== 0 && this.connectionOf(clientId) === connection && !this.truncatedUnder())
      this.endSession(clientId, "disconnected");
  }

  /** Whether the region file was truncated under the arbiter: then it fails saying so, touching nothing. */
  private truncatedUnder(): boolean {
    const shrunk = this.regionWatch.shrunk();
    if (!shrunk) return false;
    clearInterval(this.sweeper);
    this.failure.resolve(shrunk);
    return true;
  }

  private sweep(): void {
    if (this.truncatedUnder()) return;
    const { server, inbox, regionWatch } = this;
    eachOnItsOwn([
      () => regionWatch.noticeGone(),
      () => this.hostWakes?.noticeGone(),
      () => server && inbox && regionWatch.noticeSocketsGone(this.options.socketPath, server, inbox),
      () => this.journalOutage.probe(this.stateFile),
      () => notifyProblems([...this.journalOutage.problems(), ...this.problems]),
      () => this.keepJournal(),
      () => this.expireSilentClients(),
      () => this.lateEnds.retry(),
      () => this.connections.checkDescriptors(),
    ]);
    // finally, not then: scans that threw (a bug, reported as one) must not pass for still going for good.
    this.scanning ??= runInSlices(this.scans(), { stopped: () => this.stopped }).finally(() => {
      this.scanning = undefined;
    });
  }

  /** The sweep's work that grows with the clients, waiters and slots, yielding between pieces. */
  private *scans(): Generator<void, void> {
    yield* this.waits.recheckInSteps((key) => this.slots.loadAt(key));
    const { findings, releasedSlots } = yield* this.guard.checkInSteps(this.state, this.lateEnds);
    for (const finding of findings) log.warn(finding);
    for (const slot of releasedSlots) this.wakeSlot(slot);
    yield;
    this.transfers.sample();
    yield;
    this.compactor.maybeStart();
  }

  /** Writes the state journal again if it was removed or replaced; whether it is at its path now. */
  keepJournal(): boolean {
    return this.journalKeeper.keep();
  }

  /** What the sweep found the operator must mend, for `ivsh status` (`problems`). */
  get problems(): string[] {
    return [
      ...this.regionWatch.problems,
      ...(this.hostWakes?.problems ?? []),
      ...this.journalKeeper.problems,
    ];
  }

  get journalTakenOver(): boolean {
    return this.journalKeeper.takenOver;
  }

  /**
   * Ends the sessions not heard from for a lease of the arbiter's own running time: the time it could not
   * run itself (SIGSTOP, an overloaded host) does not count, as the heartbeats sent meanwhile may be sitting
   * unread in its sockets; an arbiter always late still expires a silent client, only later.
   */
  private expireSilentClients(): void {
    const now = performance.now();
    const sinceSweep = performance.now() - this.lastSweepMs;
    this.lastSweepMs = performance.now();
    this.stalledMs += Math.max(0, sinceSweep - 1.5 * this.sweepPeriodMs);
    // Expired only at the second sweep that finds it silent: between the two, the event loop has read
    // whatever heartbeats were waiting in the sockets when this sweep's timer happened to run first.
    for (const [clientId, live] of this.liveness) {
      const silentMs = now - live.lastSeenMs - (this.stalledMs - live.stalledAtSeenMs);
      const silent = silentMs > this.options.leaseMs;
      if (silent && live.overdue) this.expire(clientId, live.connection);
      live.overdue = silent;
    }
  }

  private expire(clientId: number, connection: Connection | undefined): void {
    const error = failure(
      "LeaseExpired",
      `keep client ${clientId}'s session`,
      `no heartbeat arrived for ${this.options.leaseMs} ms (lease expired): its grants and locks were released ` +
        "(the process, or its VM, was stopped, paused or starved of CPU that long; connect() again, or run the command again, for a new session)",
    );
    this.waits.settleClient(clientId, (waiter) =>
      connection?.fail(messages.wait.op, waiter.requestId, error),
    );
    this.endSession(clientId, "lease expired");
    if (!connection) return;
    // Told at once, unasked (request id 0): a client that is running but was not heard from (a starved
    // process) must stop using what it no longer holds before its next request, not after it.
    connection.fail(0, 0, error);
    connection.leaseExpiredError = error;
  }
}

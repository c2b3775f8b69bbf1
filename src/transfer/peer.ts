/**
 * The other end of a channel, as its lock word shows it. A peer that dies has its word marked owner-died
 * by the arbiter (which also wakes us); one that lets go clears it; either way a wait on the channel ends
 * with PeerGone instead of hanging. A word that says what no honest party writes (owner-died while the
 * arbiter still lists the peer, or a client id the arbiter does not know) ends it with RegionCorrupted.
 */
import { failure, type IvshError } from "../errors.ts";
import { HOST_VM } from "../protocol/messages.ts";
import { ChannelState, LOCK_OWNER_MASK } from "../region/layout.ts";
import { ARBITER_VIEW_WAIT_MS, type ChannelSlot } from "./slot.ts";

/** How often a channel end busy with its own input or output looks whether its peer is still there. */
const PEER_WATCH_MS = 50;

export type PeerRole = "sender" | "receiver";

/** What a peer's lock word holds once it no longer names the peer. */
export interface Departure {
  owner: number;
  died: boolean;
}

/**
 * A peer is watched from the moment it attached: `attachedId` says who that is (0 while nobody has), and
 * once known the id is kept, so a peer that attached and left between two looks is still seen gone.
 */
export class Peer {
  private id = 0;
  /** Whether the peer runs in another VM than we do (the host counts as one): unknown until asked. */
  private elsewhere: boolean | undefined;
  /** Where the peer runs, once asked: the arbiter forgets a dead client, and its VM says which died. */
  private vm: string | undefined;
  private asked = false;

  constructor(
    private readonly slot: ChannelSlot,
    readonly role: PeerRole,
    readonly channel: string,
    private readonly attachedId: () => number,
  ) {}

  /** A peer whose id is known from the start (the receiver knows its sender when it joins). */
  static attached(slot: ChannelSlot, role: PeerRole, channel: string, id: number): Peer {
    return new Peer(slot, role, channel, () => id);
  }

  /** Why our own session is gone for good, if it is. */
  ownLoss(): IvshError | undefined {
    return this.slot.client.lost;
  }

  /** What its lock word holds if the peer attached and no longer holds it; undefined while it does. */
  departure(): Departure | undefined {
    if (this.id === 0) this.id = this.attachedId() & LOCK_OWNER_MASK;
    if (this.id === 0) return undefined;
    const holder = this.slot.holder(this.role);
    return holder.owner === this.id ? undefined : holder;
  }

  /**
   * Whether a wait for this peer should nap rather than park (wait.ts): true once the arbiter has said the
   * peer is in another VM. The first call asks it, without waiting for the answer (the wait that asked
   * parks as before), so a transfer whose ends never wait long never pays for the question.
   */
  inOtherVm(): boolean {
    if (!this.asked && this.id !== 0) {
      this.asked = true;
      const id = this.id;
      // Awaited by nobody (let go of at once): one a stopped arbiter never answers keeps no process alive.
      this.slot.client
        .status(1, id, AbortSignal.abort())
        .then((report) => {
          const peer = report.clients.find((client) => client.clientId === id);
          // An arbiter from before status named its requester (same protocol) leaves it unknown.
          const ours = report.requester?.vm;
          if (peer && ours !== undefined) this.elsewhere = peer.vm !== ours;
          if (this.elsewhere) this.vm = peer?.vm;
        })
        .catch(() => {}); // no answer (the client closed, the arbiter away), or an odd one: we keep parking
    }
    return this.elsewhere === true;
  }

  /**
   * The peer let its end go unfinished: a sender marks the transfer abandoned, a receiver dropped, then
   * each lets go of its end. The other end sees whichever comes first, so both are told in these words:
   * it is one situation, a peer interrupted or failed, which said so itself. A peer killed (kill -9) or
   * expired said nothing, and "died" (goneError) tells that other one. `holder`: who took the end since.
   */
  gaveUp(holder = 0): IvshError {
    if (this.id === 0) this.id = this.attachedId() & LOCK_OWNER_MASK;
    const since = holder === 0 ? "" : `; client ${holder} holds that end now`;
    return failure(
      "PeerGone",
      `transfer on channel '${this.channel}'`,
      `the ${this.role} (client ${this.id}) gave up before the end (it was interrupted, closed its end early, or failed: its own error says why${since})`,
    );
  }

  /** Whether the peer marked the transfer given up (nobody else writes that state while we are attached). */
  private saidItGaveUp(): boolean {
    const state = this.slot.load("state");
    return state === (this.role === "sender" ? ChannelState.abandoned : ChannelState.dropped);
  }

  /** The error for a departure: RegionCorrupted if the word was overwritten, else PeerGone. */
  async goneError({ owner, died }: Departure): Promise<IvshError> {
    // Frozen past our lease, we are the one the arbiter gave up on: the peer left because of us.
    const client = this.slot.client;
    const ours =
      client.lost !== undefined || client.leaseInDoubt() ? await this.slot.sessionLost() : undefined;
    if (ours) return ours;
    const action = `transfer on channel '${this.channel}'`;
    const who = `the ${this.role} (client ${this.id})`;
    if (owner === 0 && !died) return this.gaveUp();
    const clients = await this.liveAmong([this.id, owner]);
    // Only the arbiter marks a word owner-died, and only once the session has ended.
    if (died && clients?.has(this.id))
      return failure(
        "RegionCorrupted",
        action,
        `${who} is alive but its lock word says it died: the region was overwritten`,
      );
    // Read again after the answer: a legitimate new holder that has left since no longer names itself there.
    if (owner !== 0 && clients && !clients.has(owner) && this.slot.holder(this.role).owner === owner)
      return failure(
        "RegionCorrupted",
        action,
        `${who}'s lock word names client ${owner}, which does not exist: the region was overwritten`,
      );
    if (owner !== 0 && this.saidItGaveUp()) return this.gaveUp(owner);
    if (owner !== 0)
      return failure(
        "PeerGone",
        action,
        `${who} went away before the end (client ${owner} holds that end now)`,
      );
    const where =
      this.vm === undefined ? "" : `; it ran ${this.vm === HOST_VM ? "on the host" : `in VM '${this.vm}'`}`;
    return failure("PeerGone", action, `${who} died (its connection closed or its lease expired${where})`);
  }

  /**
   * Which of `ids` the arbiter has sessions for, asked one client at a time (cheap however many clients
   * it serves); undefined if it does not answer in time (then we take the word's word).
   */
  private async liveAmong(ids: number[]): Promise<Set<number> | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    // Let go of once not waited for (finally): unanswered (a stopped arbiter), they kept a script that
    // caught the end's error, and forgot close(), alive.
    const givenUp = new AbortController();
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ARBITER_VIEW_WAIT_MS);
    });
    try {
      const asked = ids.filter((id) => id !== 0).map((id) => this.slot.client.status(1, id, givenUp.signal));
      const reports = await Promise.race([Promise.all(asked), timeout]);
      return reports && new Set(reports.flatMap((report) => report.clients.map((client) => client.clientId)));
    } catch {
      return undefined;
    } finally {
      clearTimeout(timer);
      givenUp.abort();
    }
  }
}

/**
 * A signal that aborts when `signal` does, or with PeerGone once `peer` is seen gone, or with our own
 * session's loss (its lease expired while this process was stopped: the arbiter let go of our end, and no
 * peer can reach it): for the time a channel end spends waiting on its own input or output (an idle
 * pipe), where no channel wait watches. An idle sender went on reading with a dead session.
 */
export function abortWhenGone(peer: Peer, signal?: AbortSignal): { signal: AbortSignal; stop(): void } {
  const controller = new AbortController();
  let judging = false;
  const timer = setInterval(() => {
    try {
      const lost = peer.ownLoss();
      if (lost) {
        clearInterval(timer);
        controller.abort(lost);
        return;
      }
      const departure = judging ? undefined : peer.departure();
      if (!departure) return;
      judging = true;
      peer.goneError(departure).then(
        (error) => controller.abort(error),
        (error: unknown) => controller.abort(error),
      );
    } catch (error) {
      // The client was closed (its slot words unmapped): nothing to watch any more, and a throw here
      // would be uncaught.
      clearInterval(timer);
      controller.abort(error);
    }
  }, PEER_WATCH_MS);
  timer.unref();
  return {
    signal: signal ? AbortSignal.any([signal, controller.signal]) : controller.signal,
    stop: () => clearInterval(timer),
  };
}

/**
 * What the arbiter said of a client's session, read-only to the program: a `clientId` set by the program
 * (another client's, say) took locks under that id, and the other client's unlock() let go of them.
 * Client (./client.ts) writes them through `facts` as its hellos and reconnects learn them.
 */
export abstract class SessionFacts {
  /** @internal Written by the Client only. */
  protected readonly facts = { clientId: 0, epoch: 0, leaseMs: 0, vm: "", reconnects: 0, parking: "" };

  /** This session's id, as `ivsh status` shows it (client #N). */
  get clientId(): number {
    return this.facts.clientId;
  }

  /** The arbiter's epoch: it changes when a restarted arbiter took over. */
  get epoch(): number {
    return this.facts.epoch;
  }

  /** How long the arbiter waits without a heartbeat before it releases what this client holds. */
  get leaseMs(): number {
    return this.facts.leaseMs;
  }

  /** The VM this client runs in, as the host named it ("host" for host processes). */
  get vm(): string {
    return this.facts.vm;
  }

  /** How many times the connection was re-established after the arbiter went away. */
  get reconnects(): number {
    return this.facts.reconnects;
  }

  /** Where this client's waiters park, and if only in the arbiter, why: for its logs and bug reports. */
  get parking(): string {
    return this.facts.parking;
  }
}

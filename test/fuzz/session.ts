/**
 * One fuzz connection: a real session that does work in batches, with mutated frames, replays, floods in
 * one write and frames dribbled a few bytes at a time among its valid requests. Every batch ends with a
 * heartbeat: where the protocol says the connection stays open, that follow-up must be answered.
 */
import type { ErrorCodeName } from "../../src/errors.ts";
import { Prng } from "../helpers/prng.ts";
import { FuzzLink, type Unit, type WriteStyle } from "./link.ts";
import { ConnectionModel, type Expectation } from "./model.ts";
import { mutate, mutateInFrame } from "./mutate.ts";
import type { Geometry } from "./oracle.ts";
import type { FuzzStats } from "./report.ts";
import { Requests } from "./requests.ts";
import type { Fields } from "./wire.ts";

export interface RunContext {
  seed: number;
  socketPath: string;
  stats: FuzzStats;
  livenessMs: number;
  geometry: Geometry;
  leaseMs: number;
  tokens: TokenBook;
  /** True once the run has sent its frames: sessions wind down. */
  stopping(): boolean;
  /** Samples the arbiter's resident memory now; beyond the run's bound it is a violation of `connection`. */
  checkMemory(connection: number, frame: number): void;
  trace?: (line: string) => void;
}

/** Session tokens the arbiter handed to fuzz sessions: resume attempts draw from here. */
export class TokenBook {
  private readonly recent: string[] = [];
  private readonly known = new Set<string>();

  add(token: string): void {
    if (this.known.has(token)) return;
    this.known.add(token);
    this.recent.push(token);
    if (this.recent.length > 64) this.recent.shift();
  }

  has(token: string): boolean {
    return this.known.has(token);
  }

  pick(rng: Prng): string | undefined {
    return this.recent.length === 0 ? undefined : rng.pick(this.recent);
  }
}

/** flood: 50-400 frames in one write; tiny: written 1-8 bytes at a time; split: one write per frame. */
const BATCH_STYLES = { normal: 80, flood: 10, tiny: 5, split: 5 };
/** Shares of work frames sent as a well-framed mutation, and as a replay of an earlier frame. */
const IN_FRAME_MUTATIONS = 0.05;
const REPLAYS = 0.05;
/** Share of batches that carry one mutated frame of any kind (often one that ends the connection). */
const MUTATED_BATCHES = 0.25;
/** Above this many missing bytes an unfinished frame is usually abandoned (the socket closed) instead. */
const FILL_LIMIT = 64 << 10;

export class FuzzSession {
  readonly rng: Prng;
  readonly requests: Requests;
  readonly model: ConnectionModel;
  readonly link: FuzzLink;
  /** The session token the arbiter gave this socket's hello, once it has. */
  token: string | undefined;
  /** Outcomes of this session's answered waits, by request id (what the handover scenarios check). */
  readonly waitOutcomes = new Map<number, number>();
  /** Frames sent so far, shared by every socket of this fuzz connection. */
  private readonly sent: { frames: number };

  /** `sibling`: another socket of the same fuzz connection, drawing from the same stream. */
  constructor(
    readonly run: RunContext,
    readonly index: number,
    sibling?: FuzzSession,
  ) {
    this.rng = sibling?.rng ?? new Prng(run.seed, index);
    this.sent = sibling?.sent ?? { frames: 0 };
    this.requests = new Requests(this.rng, run.geometry, index);
    this.model = new ConnectionModel({ ...run, isKnownToken: (token) => run.tokens.has(token) });
    this.link = new FuzzLink(this.model, {
      socketPath: run.socketPath,
      connection: index,
      stats: run.stats,
      livenessMs: run.livenessMs,
      onAnswer: (expectation, reply, code) => this.learn(expectation, reply, code),
    });
  }

  /** Numbers one frame to send and counts it under `kind`. */
  unit(bytes: Uint8Array, kind: string): Unit {
    const frame = ++this.sent.frames;
    this.run.stats.frames++;
    this.run.stats.count(kind);
    this.run.trace?.(`connection ${this.index} frame ${frame} ${kind}: ${hex(bytes)}`);
    return { bytes, frame };
  }

  /** Another socket of this fuzz connection (not yet open): its own session, the same frame numbering. */
  sibling(): FuzzSession {
    return new FuzzSession(this.run, this.index, this);
  }

  /** Reports a violation of this connection (for the checks a scenario makes itself). */
  violate(frame: number, kind: string, detail: string): void {
    this.run.stats.violate(this.index, frame, kind, detail);
  }

  /** Sends, completes a frame left unfinished, and waits until everything due was answered. */
  async exchange(units: Unit[], style: WriteStyle = "one-write"): Promise<void> {
    await this.link.send(units, style);
    const missing = this.model.missing;
    if (missing > 0 && this.link.usable) {
      if (missing > FILL_LIMIT && this.rng.chance(0.75)) return this.link.end();
      this.run.stats.count("filler");
      await this.link.send([{ bytes: new Uint8Array(missing), frame: this.sent.frames }], "one-write");
    }
    await this.link.settle();
  }

  async greet(): Promise<void> {
    const units = [];
    if (this.rng.chance(0.1))
      units.push(this.unit(this.requests.identify(`vm-${this.rng.int(4)}`).bytes, "identify"));
    units.push(this.unit(this.requests.hello().bytes, "hello"));
    await this.exchange(units);
  }

  /** Batches of work until the budget says stop or a frame ended the connection. */
  async work(batches: number): Promise<void> {
    for (let batch = 0; batch < batches && this.link.usable && !this.run.stopping(); batch++) {
      const style = this.rng.weighted(BATCH_STYLES);
      const flood = style === "flood";
      if (style !== "normal") this.run.stats.count(`batch-${style}`);
      const units = this.batch(flood ? this.rng.range(50, 400) : this.rng.range(1, 12));
      if (this.rng.chance(MUTATED_BATCHES)) units.splice(this.mutationSpot(units.length), 0, this.mutation());
      units.push(this.unit(this.requests.heartbeat().bytes, "probe"));
      await this.exchange(units, style === "tiny" ? "tiny" : style === "split" ? "per-frame" : "one-write");
    }
  }

  async finish(): Promise<void> {
    if (this.link.usable && this.rng.chance(0.55))
      await this.exchange([this.unit(this.requests.build("bye", {}).bytes, "bye")]);
    this.link.end();
  }

  /** Valid work, replays of earlier frames (same bytes, same request id), well-framed wrong requests. */
  private batch(count: number): Unit[] {
    const units: Unit[] = [];
    const recent = this.requests.recent;
    for (let index = 0; index < count; index++) {
      const roll = this.rng.float();
      if (roll < IN_FRAME_MUTATIONS) {
        const mutated = mutateInFrame(this.rng, this.requests);
        units.push(this.unit(mutated.bytes, `mutation:${mutated.kind}`));
      } else if (roll < IN_FRAME_MUTATIONS + REPLAYS && recent.length > 0)
        units.push(this.unit(this.rng.pick(recent).bytes, "replay"));
      else {
        const built = this.requests.work();
        units.push(this.unit(built.bytes, `valid:${built.name}`));
      }
    }
    return units;
  }

  private mutation(): Unit {
    const mutated = mutate(this.rng, this.requests);
    return this.unit(mutated.bytes, `mutation:${mutated.kind}`);
  }

  /** Mostly last (then the probe checks the connection right after it), sometimes among the work. */
  private mutationSpot(count: number): number {
    return this.rng.chance(0.75) ? count : this.rng.int(count + 1);
  }

  /** What an answer tells the session: grants and slots it now holds, tokens it may resume. */
  private learn(expectation: Expectation, reply: Fields | undefined, code: ErrorCodeName | undefined): void {
    if (expectation.name === "hello") {
      if (reply) {
        this.token = reply.sessionToken as string;
        this.run.tokens.add(this.token);
      }
      this.model.settleHello(reply !== undefined, code);
    }
    if (!reply || !expectation.fields) return;
    if (expectation.name === "wait") this.waitOutcomes.set(expectation.requestId, reply.outcome as number);
    const { segments, slots } = this.requests;
    if (expectation.name === "alloc" || expectation.name === "open") segments.add(reply.segmentId as number);
    if (expectation.name === "free") segments.delete(expectation.fields.segmentId as number);
    if (expectation.name === "syncOpen") slots.add(reply.slot as number);
    if (expectation.name === "syncClose") slots.delete(expectation.fields.slot as number);
  }
}

function hex(bytes: Uint8Array): string {
  const shown = Buffer.from(bytes.subarray(0, 48)).toString("hex");
  return bytes.byteLength > 48 ? `${shown}... (${bytes.byteLength} bytes)` : shown;
}

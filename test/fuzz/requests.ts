/**
 * Valid requests, built with `encodeFrame` from the messages table, that do real work on live state: a
 * session allocates, opens and frees segments from a name pool shared with the other fuzz sessions, opens
 * synchronisation objects, waits on them with short timeouts and wakes them, so mutated frames land among
 * real grants, holders and parked waiters.
 */
import { encodeFrame } from "../../src/protocol/codec.ts";
import {
  FrameKind,
  type MessageName,
  messages,
  PROTOCOL_VERSION,
  WIRE_MAGIC,
} from "../../src/protocol/messages.ts";
import { SLOT_WORDS } from "../../src/region/layout.ts";
import type { Prng } from "../helpers/prng.ts";
import type { Geometry } from "./oracle.ts";
import type { Fields } from "./wire.ts";

export interface Built {
  name: MessageName;
  fields: Fields;
  requestId: number;
  bytes: Uint8Array;
}

/** Names shared by every fuzz session, so they meet on the same segments and slots. */
export const SEGMENT_POOL = 12;
export const SYNC_POOL = 12;
const KEPT_FOR_REPLAY = 32;
const WORK = {
  alloc: 14,
  open: 8,
  free: 12,
  syncOpen: 12,
  syncClose: 5,
  wait: 14,
  wake: 12,
  heartbeat: 10,
  status: 2,
} as const satisfies Partial<Record<MessageName, number>>;
/** `create` of syncOpen: mostly open-or-create, so sessions meet on the same objects. */
const CREATE = { 1: 70, 0: 15, 2: 15 };
const TIMEOUTS = { none: 30, short: 55, longer: 15 };

export class Requests {
  private nextId = 1;
  /** Segment ids this session was granted (and has not freed, as far as the answers said). */
  readonly segments = new Set<number>();
  readonly slots = new Set<number>();
  /** Recent frames, for replays: the same bytes, the same request id. */
  readonly recent: Built[] = [];

  constructor(
    private readonly rng: Prng,
    private readonly geometry: Geometry,
    private readonly connection: number,
  ) {}

  takeId(): number {
    const id = this.nextId;
    this.nextId = id === 0xffffffff ? 1 : id + 1;
    return id;
  }

  build<N extends MessageName>(name: N, fields: Fields, requestId = this.takeId()): Built {
    const message = messages[name];
    const bytes = encodeFrame(FrameKind.request, message.op, requestId, message.request, fields);
    const built = { name, fields, requestId, bytes };
    this.recent.push(built);
    if (this.recent.length > KEPT_FOR_REPLAY) this.recent.shift();
    return built;
  }

  hello(sessionToken = ""): Built {
    const clientName = `fuzz-${this.connection}`;
    return this.build("hello", {
      magic: WIRE_MAGIC,
      version: PROTOCOL_VERSION,
      clientName,
      pid: 1,
      sessionToken,
    });
  }

  identify(vm: string): Built {
    return this.build("identify", { vm });
  }

  heartbeat(): Built {
    return this.build("heartbeat", {});
  }

  /** A request that does real work on the arbiter's state. */
  work(): Built {
    const name = this.rng.weighted(WORK);
    return this.build(name, this.fieldsFor(name));
  }

  /** A request with a name field (alloc, open or syncOpen). */
  named(): Built {
    const name = this.rng.pick(["alloc", "open", "syncOpen"] as const);
    return this.build(name, this.fieldsFor(name));
  }

  fieldsFor(name: MessageName): Fields {
    const rng = this.rng;
    switch (name) {
      case "alloc":
        return { ...this.size(), mode: rng.range(1, 3), name: rng.chance(0.5) ? "" : this.segmentName() };
      case "open":
        return { name: this.segmentName(), mode: rng.range(1, 3) };
      case "free":
        return { segmentId: this.held(this.segments, () => rng.range(1, 5000)) };
      case "syncOpen": {
        const index = rng.int(SYNC_POOL);
        return {
          name: `fz-m${index}`,
          kind: 1 + (index % 3),
          create: Number(rng.weighted(CREATE)),
        };
      }
      case "syncClose":
        return { slot: this.held(this.slots, () => rng.int(this.geometry.slotCount)) };
      case "wait":
        return {
          ...this.slotWord(),
          expected: rng.chance(0.7) ? 0 : rng.range(-3, 3),
          timeoutMs: this.timeout(),
        };
      case "wake":
        return { ...this.slotWord(), count: rng.pick([1, 1, 2, 3, 0x7fffffff]), reply: rng.int(2) };
      case "status":
        return {
          limit: rng.pick([0, 1, 10, 1000, 0xffffffff]),
          onlyClient: rng.chance(0.2) ? rng.range(1, 50) : 0,
        };
      default:
        return {};
    }
  }

  private size(): Fields {
    const { blockSize } = this.geometry;
    if (this.rng.chance(0.3)) return { bytes: 0, blocks: this.rng.range(1, 3) };
    return { bytes: this.rng.range(1, 3 * blockSize), blocks: 0 };
  }

  private segmentName(): string {
    if (this.rng.chance(0.15)) return `fz-c${this.connection}-${this.rng.int(4)}`;
    return `fz-s${this.rng.int(SEGMENT_POOL)}`;
  }

  private held(set: Set<number>, otherwise: () => number): number {
    if (set.size === 0 || this.rng.chance(0.15)) return otherwise();
    return this.rng.pick([...set]);
  }

  private slotWord(): Fields {
    const slot = this.held(this.slots, () => this.rng.int(this.geometry.slotCount));
    return { slot, word: this.rng.chance(0.8) ? this.rng.int(4) : this.rng.int(SLOT_WORDS) };
  }

  private timeout(): number {
    const kind = this.rng.weighted(TIMEOUTS);
    if (kind === "none") return 0;
    return kind === "short" ? this.rng.range(1, 15) : this.rng.range(20, 80);
  }
}

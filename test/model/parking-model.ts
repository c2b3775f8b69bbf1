/**
 * An exhaustive model of the lock / condvar / park / wake protocol (src/guest/sync.ts, parking.ts,
 * src/host/host-wakes.ts, docs/layout.md "Parking"): every atomic step of each party is one transition,
 * and `explore` visits every interleaving of two or three parties and the arbiter.
 *
 * Checked in every reachable state: at most one party in the critical section; and from every state, a
 * state where every live party has finished is still reachable (so no lost wake-up leaves anyone asleep
 * for good, and no livelock). A parker may always choose the arbiter over its futex (the slot's
 * `lastWaker` hint is anyone's to write). Without `timeouts`, futex sleeps and arbiter waits end only by a wake, so
 * the protocol must not rely on the slices and sweeps that bound lost wake-ups in the real code; with it,
 * they may end at any time, which is what keeps parties alive when a waker dies between store and wake.
 */

export type Domain = "H" | "G"; // the host's kernel (the arbiter's) or a guest's
type Word = 0 | 1; // 0 = lock, 1 = sequence
const OWNER = 0xf;
const WAITERS = 0x10;
const DIED = 0x20;

export type Role = "locker" | "producer" | "consumer";

export interface PartySpec {
  role: Role;
  domain: Domain;
  /** A locker's rounds (default 1). */
  rounds?: number;
  /** A producer's items per notify: with more than 1 it broadcasts. */
  items?: number;
  /**
   * Where it may die: holding the lock (lockers); between its store and its wake, before or after its
   * unlock (producers); parked.
   */
  dies?: "holding" | "before-wake" | "parked";
}

/** Deliberate bugs, to show the checker finds what they break. */
export interface Mutations {
  /** The parker re-reads the word before announcing itself. */
  checkBeforeAnnounce?: boolean;
  /** The parker reads the mailbox after its last look at the word. */
  mailboxAfterCheck?: boolean;
  /** The waker ignores waiters parked in the arbiter. */
  ignoreQueued?: boolean;
  /** The arbiter does not wake the host's futex sleepers for a waker of another kernel. */
  arbiterSkipsHost?: boolean;
  /** The arbiter releases a dead client's lock but wakes nobody. */
  arbiterSkipsDeathWake?: boolean;
}

export interface ModelOptions {
  parties: PartySpec[];
  timeouts?: boolean;
  mutations?: Mutations;
  maxStates?: number;
}

interface Frame {
  pc: string;
  ret: string;
}

interface Party {
  id: number;
  pc: string;
  stack: Frame[];
  rounds: number;
  seen: number;
  flagged: number;
  mail: number;
  mailDomain: Domain;
  via: boolean;
  seq: number;
  word: Word;
  expected: number;
  count: number;
  parkedOnce: boolean;
  asleep: boolean;
  awaiting: boolean;
  dead: boolean;
  ownerDied: number;
}

type Message =
  | { kind: "wait"; party: number; word: Word; expected: number }
  | { kind: "wake"; word: Word; count: number }
  | { kind: "died"; party: number };

interface State {
  lock: number;
  seq: number;
  recDomain: [string, string];
  recCount: [number, number];
  queued: [number, number];
  mail: Record<Domain, [number, number]>;
  items: number;
  inCritical: number;
  parties: Party[];
  messages: Message[];
  arbiterQueue: { party: number; word: Word }[];
}

export interface ModelResult {
  states: number;
  violation?: string;
}

const ALL = 99;

function initial(options: ModelOptions): State {
  return {
    lock: 0,
    seq: 0,
    recDomain: ["", ""],
    recCount: [0, 0],
    queued: [0, 0],
    mail: { H: [0, 0], G: [0, 0] },
    items: 0,
    inCritical: 0,
    messages: [],
    arbiterQueue: [],
    parties: options.parties.map((spec, index) => ({
      id: index + 1,
      pc: "start",
      stack: [],
      rounds: spec.rounds ?? 1,
      seen: 0,
      flagged: 0,
      mail: 0,
      mailDomain: spec.domain,
      via: false,
      seq: 0,
      word: 0,
      expected: 0,
      count: 0,
      parkedOnce: false,
      asleep: false,
      awaiting: false,
      dead: false,
      ownerDied: 0,
    })),
  };
}

/** A deep copy, by hand: the search makes millions and structuredClone is several times slower. */
function clone(s: State): State {
  return {
    ...s,
    recDomain: [...s.recDomain],
    recCount: [...s.recCount],
    queued: [...s.queued],
    mail: { H: [...s.mail.H], G: [...s.mail.G] },
    parties: s.parties.map((p) => ({ ...p, stack: p.stack.map((frame) => ({ ...frame })) })),
    messages: s.messages.map((message) => ({ ...message })),
    arbiterQueue: s.arbiterQueue.map((waiter) => ({ ...waiter })),
  };
}

const wordValue = (s: State, word: Word) => (word === 0 ? s.lock : s.seq);

/** Wakes futex sleepers of `domain` on `word`: one successor per choice of whom (count 1) or all. */
function futexWake(s: State, domain: Domain, word: Word, count: number, specs: PartySpec[]): State[] {
  const sleepers = s.parties.filter((p) => p.asleep && p.word === word && specs[p.id - 1]!.domain === domain);
  if (sleepers.length === 0) return [s];
  if (count >= sleepers.length) {
    const next = clone(s);
    for (const p of next.parties) if (sleepers.some((q) => q.id === p.id)) p.asleep = false;
    return [next];
  }
  return sleepers.map((sleeper) => {
    const next = clone(s);
    next.parties[sleeper.id - 1]!.asleep = false;
    return next;
  });
}

function call(p: Party, pc: string, ret: string): void {
  p.stack.push({ pc, ret });
  p.pc = pc;
}

function ret(p: Party): void {
  p.pc = p.stack.pop()!.ret;
}

/** One step of party `index`; [] if it cannot move now. */
function stepParty(state: State, index: number, options: ModelOptions): State[] {
  const current = state.parties[index]!;
  if (current.dead || current.asleep || current.awaiting || current.pc === "done") return [];
  const specs = options.parties;
  const spec = specs[index]!;
  const m = options.mutations ?? {};
  const s = clone(state);
  const p = s.parties[index]!;
  const me = p.id;
  const mine = spec.domain;
  switch (p.pc) {
    case "start":
      call(p, "lk0", spec.role === "locker" ? "cs" : spec.role === "producer" ? "produce" : "consume");
      return [s];
    // LOCK: take a free word; else flag WAITERS and park on it.
    case "lk0":
      p.seen = s.lock;
      p.pc = (p.seen & OWNER) === 0 ? "lk1" : "lk2";
      return [s];
    case "lk1": {
      if (s.lock !== p.seen) {
        p.pc = "lk0";
        return [s];
      }
      s.lock = me | (p.parkedOnce ? WAITERS : p.seen & WAITERS);
      if (p.seen & DIED) p.ownerDied++;
      p.parkedOnce = false;
      ret(p);
      return [s];
    }
    case "lk2": {
      p.flagged = p.seen | WAITERS;
      if (s.lock !== p.seen) {
        p.pc = "lk0";
        return [s];
      }
      s.lock = p.flagged;
      p.parkedOnce = true;
      p.word = 0;
      p.expected = p.flagged;
      p.pc = "lk0";
      call(p, "pk0", "lk0");
      return [s];
    }
    // PARK(word, expected): announce, read the mailbox, re-check the word, sleep.
    case "pk0": {
      if (m.checkBeforeAnnounce && wordValue(s, p.word) !== p.expected) {
        ret(p);
        return [s];
      }
      const w = p.word;
      if (s.recCount[w] > 0 && s.recDomain[w] !== mine) {
        p.pc = "pq0";
        return [s];
      }
      // The slot's last waker may be of another kernel: then the waiter parks in the arbiter instead.
      const viaArbiter = clone(s);
      viaArbiter.parties[index]!.pc = "pq0";
      s.recDomain[w] = mine;
      s.recCount[w]++;
      p.pc = m.mailboxAfterCheck ? "pk2" : "pk1";
      return [s, viaArbiter];
    }
    case "pk1":
      p.mail = s.mail[mine][p.word];
      p.pc = m.mailboxAfterCheck ? "pk3" : "pk2";
      return [s];
    case "pk2":
      if (!m.checkBeforeAnnounce && wordValue(s, p.word) !== p.expected) p.pc = "pk4";
      else p.pc = m.mailboxAfterCheck ? "pk1" : "pk3";
      return [s];
    case "pk3":
      if (s.mail[mine][p.word] === p.mail) p.asleep = true;
      p.pc = "pk4";
      return [s];
    case "pk4":
      s.recCount[p.word]--;
      ret(p);
      return [s];
    case "pq0":
      s.queued[p.word]++;
      p.pc = "pq1";
      return [s];
    case "pq1":
      if (wordValue(s, p.word) === p.expected) {
        s.messages.push({ kind: "wait", party: me, word: p.word, expected: p.expected });
        p.awaiting = true;
      }
      p.pc = "pq2";
      return [s];
    case "pq2":
      s.queued[p.word]--;
      ret(p);
      return [s];
    // WAKE(word, count): the word was changed before; look at who is parked and where.
    case "wk0":
      p.via = !m.ignoreQueued && s.queued[p.word] > 0;
      p.pc = "wk1";
      return [s];
    case "wk1":
      if (s.recCount[p.word] > 0 && s.recDomain[p.word] === mine) p.pc = "wk2";
      else {
        if (s.recCount[p.word] > 0) p.via = true;
        p.pc = "wk4";
      }
      return [s];
    case "wk2":
      s.mail[mine][p.word]++;
      p.pc = "wk3";
      return [s];
    case "wk3":
      p.pc = "wk4";
      return futexWake(s, mine, p.word, p.count, specs);
    case "wk4":
      if (p.via) s.messages.push({ kind: "wake", word: p.word, count: p.count });
      ret(p);
      return [s];
    // UNLOCK: CAS our id to 0; if WAITERS was set, clear and wake one.
    case "ul0":
      if (s.lock === me) {
        s.lock = 0;
        ret(p);
      } else p.pc = "ul1";
      return [s];
    case "ul1": {
      const released = s.lock;
      s.lock = 0;
      if (released & WAITERS) {
        p.word = 0;
        p.count = 1;
        p.pc = "wk0";
        return [s];
      }
      ret(p);
      return [s];
    }
    // The roles.
    case "cs": {
      s.inCritical++;
      p.pc = "cs-out";
      const successors = [s];
      if (spec.dies === "holding") successors.push(die(state, index));
      return successors;
    }
    case "cs-out":
      s.inCritical--;
      p.rounds--;
      p.pc = p.rounds > 0 ? "again" : "finish";
      call(p, "ul0", p.pc);
      return [s];
    case "again":
      call(p, "lk0", "cs");
      return [s];
    // NOTIFY under the lock: bump the sequence now, pay the wake-up after the unlock (CondVar.signal).
    case "produce": {
      const items = spec.items ?? 1;
      s.items += items;
      s.seq++;
      p.rounds--;
      call(p, "ul0", "produce-wake");
      const successors = [s];
      if (spec.dies === "before-wake") successors.push(die(s, index));
      return successors;
    }
    case "produce-wake": {
      p.word = 1;
      p.count = (spec.items ?? 1) > 1 ? ALL : 1;
      call(p, "wk0", p.rounds > 0 ? "start" : "finish");
      // Its second chance to die between store and wake: the lock already let go.
      return spec.dies === "before-wake" ? [s, die(state, index)] : [s];
    }
    case "consume":
      if (s.items > 0) {
        s.items--;
        call(p, "ul0", "done");
      } else {
        p.seq = s.seq;
        call(p, "ul0", "cw1");
      }
      return [s];
    case "cw1":
      if (s.seq !== p.seq) call(p, "lk0", "consume");
      else {
        p.word = 1;
        p.expected = p.seq;
        call(p, "pk0", "cw1");
      }
      return [s];
    case "finish":
      if (p.stack.length === 0 && (s.lock & OWNER) === me) call(p, "ul0", "done");
      else p.pc = "done";
      return [s];
    default:
      throw new Error(`party ${me}: no step ${p.pc}`);
  }
}

/**
 * The party dies here: the kernel drops its futex sleep, its connection closes (the arbiter cleans up);
 * a park record or queued count it had raised stays raised, as in the real region.
 */
function die(state: State, index: number): State {
  const s = clone(state);
  const p = s.parties[index]!;
  p.dead = true;
  p.asleep = false;
  p.awaiting = false;
  s.messages.push({ kind: "died", party: p.id });
  return s;
}

/** The arbiter handles its next message. */
function stepArbiter(state: State, options: ModelOptions): State[] {
  if (state.messages.length === 0) return [];
  const s = clone(state);
  const message = s.messages.shift()!;
  const answer = (party: number) => {
    s.parties[party - 1]!.awaiting = false;
  };
  if (message.kind === "wait") {
    const party = s.parties[message.party - 1]!;
    if (party.dead) return [s];
    if (wordValue(s, message.word) !== message.expected) answer(message.party);
    else s.arbiterQueue.push({ party: message.party, word: message.word });
    return [s];
  }
  if (message.kind === "wake") {
    let left = message.count;
    s.arbiterQueue = s.arbiterQueue.filter((waiter) => {
      if (waiter.word !== message.word || left === 0) return true;
      left--;
      answer(waiter.party);
      return false;
    });
    if (options.mutations?.arbiterSkipsHost) return [s];
    if (s.recCount[message.word] === 0 || s.recDomain[message.word] !== "H") return [s];
    s.mail.H[message.word]++;
    return futexWake(s, "H", message.word, message.count, options.parties);
  }
  // died: release its lock as OWNER_DIED (keeping WAITERS) and wake everyone on the slot.
  if ((s.lock & OWNER) === message.party) s.lock = DIED | (s.lock & WAITERS);
  if (options.mutations?.arbiterSkipsDeathWake) return [s];
  s.arbiterQueue = s.arbiterQueue.filter((waiter) => {
    if (waiter.party !== message.party) answer(waiter.party);
    return false;
  });
  let states = [s];
  for (const word of [0, 1] as const) {
    for (const next of states) next.mail.H[word]++;
    states = states.flatMap((next) => futexWake(next, "H", word, ALL, options.parties));
  }
  return states;
}

/**
 * Sleeps and arbiter waits that end by themselves: the real code's slices and the arbiter's sweep. A
 * guest's futex sleep always may (nothing outside its kernel can wake it: the documented bound is its
 * slice); the others only with `timeouts`. Parties that may die, may die while parked.
 */
function spontaneous(state: State, options: ModelOptions): State[] {
  const out: State[] = [];
  state.parties.forEach((party, index) => {
    if (party.dead) return;
    const spec = options.parties[index]!;
    if (spec.dies === "parked" && (party.asleep || party.awaiting)) out.push(die(state, index));
    const queued = state.arbiterQueue.some((waiter) => waiter.party === party.id);
    const slice = party.asleep && (options.timeouts || spec.domain === "G");
    if (!slice && !(queued && options.timeouts)) return;
    const s = clone(state);
    const p = s.parties[index]!;
    p.asleep = false;
    p.awaiting = false;
    s.arbiterQueue = s.arbiterQueue.filter((waiter) => waiter.party !== p.id);
    out.push(s);
  });
  return out;
}

function finished(state: State): boolean {
  return state.parties.every((p) => p.dead || p.pc === "done") && state.messages.length === 0;
}

/**
 * The state's identity for the search: only what can still matter (a local that will be overwritten
 * before it is read is left out), and the mailbox counters relative to the copies parties hold, since
 * they are only ever compared for equality. Without this, three parties are beyond a few million states.
 */
function key(state: State): string {
  const parties = state.parties.map((p) => {
    const live: unknown[] = [p.pc, p.stack.map((frame) => frame.ret).join("/"), p.rounds, p.parkedOnce];
    live.push(p.asleep, p.awaiting, p.dead, p.ownerDied);
    if (p.pc === "lk1" || p.pc === "lk2") live.push(p.seen);
    if (p.pc.startsWith("pk") || p.pc.startsWith("pq")) live.push(p.word, p.expected);
    if (p.pc.startsWith("wk")) live.push(p.word, p.count, p.via);
    if (p.pc === "cw1" || p.stack.some((frame) => frame.ret === "cw1")) live.push(p.seq);
    return live;
  });
  const mail = (["H", "G"] as const).map((domain) =>
    ([0, 1] as const).map((word) => {
      const holders = state.parties.filter((p) => holdsMail(p) && p.word === word && p.mailDomain === domain);
      const base = Math.min(state.mail[domain][word], ...holders.map((p) => p.mail));
      for (const p of holders) parties[state.parties.indexOf(p)]!.push(`mail${domain}${word}`, p.mail - base);
      return state.mail[domain][word] - base;
    }),
  );
  const { lock, seq, recDomain, recCount, queued, items, inCritical, messages, arbiterQueue } = state;
  return JSON.stringify([
    lock,
    seq,
    recDomain,
    recCount,
    queued,
    items,
    inCritical,
    messages,
    arbiterQueue,
    mail,
    parties,
  ]);
}

/** Whether the party holds a mailbox value it will still compare (between reading it and sleeping). */
function holdsMail(p: Party): boolean {
  return p.pc === "pk2" || p.pc === "pk3";
}

/** Every interleaving, depth first; then checks that every state can still reach a finished one. */
export function explore(options: ModelOptions): ModelResult {
  const maxStates = options.maxStates ?? 2_000_000;
  const ids = new Map<string, number>();
  const states: State[] = [];
  const edges: number[][] = [];
  const stack: number[] = [];
  const visit = (state: State): number => {
    const k = key(state);
    let id = ids.get(k);
    if (id !== undefined) return id;
    id = states.length;
    ids.set(k, id);
    states.push(state);
    edges.push([]);
    stack.push(id);
    return id;
  };
  visit(initial(options));
  while (stack.length > 0) {
    if (states.length > maxStates)
      return { states: states.length, violation: `more than ${maxStates} states` };
    const id = stack.pop()!;
    const state = states[id]!;
    if (state.inCritical > 1)
      return { states: states.length, violation: `two parties in the critical section: ${key(state)}` };
    const successors = [
      ...state.parties.flatMap((_, index) => stepParty(state, index, options)),
      ...stepArbiter(state, options),
      ...spontaneous(state, options),
    ];
    edges[id] = successors.map(visit);
  }
  return { states: states.length, violation: stuckState(states, edges) };
}

/** A reachable state from which no finished state can be reached, if any (backward search from the finished). */
function stuckState(states: State[], edges: number[][]): string | undefined {
  const reverse: number[][] = states.map(() => []);
  edges.forEach((targets, from) => {
    for (const to of targets) reverse[to]!.push(from);
  });
  const good = new Uint8Array(states.length);
  const queue: number[] = [];
  states.forEach((state, id) => {
    if (finished(state)) {
      good[id] = 1;
      queue.push(id);
    }
  });
  while (queue.length > 0)
    for (const from of reverse[queue.pop()!]!)
      if (!good[from]) {
        good[from] = 1;
        queue.push(from);
      }
  // Report a dead end (nothing can move: a lost wake-up) if there is one, else the first doomed state.
  let bad = edges.findIndex((targets, id) => !good[id] && targets.length === 0);
  if (bad < 0) bad = good.indexOf(0);
  if (bad < 0) return undefined;
  const s = states[bad]!;
  const who = s.parties.map(
    (p) => `${p.id}@${p.pc}${p.asleep ? " asleep" : ""}${p.awaiting ? " in arbiter" : ""}`,
  );
  return `stuck: no way to finish from [${who.join(", ")}] lock=${s.lock} seq=${s.seq} items=${s.items}`;
}

/**
 * For the robust-lock check, in every finished state: whether a party died holding the lock, whether the
 * word still says OWNER_DIED (nobody took it since), and how many times a taker was told owner-died.
 * Right: "died:marked:0", "died:taken:1", "lived:free:0".
 */
export function ownerDiedOutcomes(options: ModelOptions): Set<string> {
  const totals = new Set<string>();
  const seen = new Set<string>();
  const stack = [initial(options)];
  // The same search as explore's, without the graph: only finished states are looked at.
  while (stack.length > 0) {
    const state = stack.pop()!;
    const k = key(state);
    if (seen.has(k)) continue;
    seen.add(k);
    if (finished(state)) {
      const diedHolding = state.parties.some((p) => p.dead && p.pc === "cs");
      const marked = (state.lock & DIED) !== 0 ? "marked" : diedHolding ? "taken" : "free";
      const told = state.parties.reduce((sum, p) => sum + p.ownerDied, 0);
      totals.add(`${diedHolding ? "died" : "lived"}:${marked}:${told}`);
    }
    stack.push(
      ...state.parties.flatMap((_, index) => stepParty(state, index, options)),
      ...stepArbiter(state, options),
      ...spontaneous(state, options),
    );
  }
  return totals;
}

/**
 * A waiter parked in the arbiter on a mutex's lock word, driven by hand (a raw client, "C"): the tests of a
 * wake-up passed on tell a prompt WAKE ("woken") from the sweep's recheck ("value changed") by its answer.
 */
import type { Client } from "../../src/guest/client.ts";
import { decodeFields } from "../../src/protocol/codec.ts";
import { messages, SyncCreate, WAIT_FOREVER } from "../../src/protocol/messages.ts";
import { SlotKind, SlotWord, SyncWord } from "../../src/region/layout.ts";
import type { RawClient } from "./raw.ts";

/** Opens mutex `name` (made by `holder`) as `waiter`; the slot's words are read through `holder`. */
export async function rawMutexWaiter(holder: Client, waiter: RawClient, name: string) {
  await waiter.hello("next-in-line");
  waiter.send("syncOpen", 2, { name, kind: SlotKind.mutex, create: SyncCreate.openExisting });
  const { slot } = decodeFields(messages.syncOpen.reply, (await waiter.answer(2)).body, "syncOpen");
  const words = holder.slotWords(slot);
  let requestId = 3;
  return {
    words,
    nextRequestId: () => requestId++,
    /** How many WAITs the arbiter has parked on the slot (its status). */
    waitersOnSlot: async () => (await holder.status()).sync.find((sync) => sync.slot === slot)!.waiters,
    /** Parks C's WAIT on the lock word, announced as the library's waiters announce themselves: its id. */
    park(): number {
      Atomics.add(words, SyncWord.lockQueued, 1);
      const id = requestId++;
      const expected = Atomics.load(words, SlotWord.lock);
      waiter.send("wait", id, { slot, word: SlotWord.lock, expected, timeoutMs: WAIT_FOREVER });
      return id;
    },
    /** How the arbiter answered WAIT `id` (a WaitOutcome); C announces itself no more. */
    async outcome(id: number): Promise<number> {
      const reply = decodeFields(messages.wait.reply, (await waiter.answer(id)).body, "wait");
      Atomics.sub(words, SyncWord.lockQueued, 1);
      return reply.outcome;
    },
  };
}

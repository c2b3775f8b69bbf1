/**
 * A receiver that finds a transfer to join while its own lease is in doubt (it was stopped, Ctrl-Z, and
 * the sender's wake is the first thing it reads as it resumes) confirms its lease before it joins. It
 * joined with the session the arbiter had expired meanwhile (the slot's words are still mapped), and the
 * sender saw that receiver leave at once and failed, while the receiver itself went on with a new session
 * (test/transfer-end-renewed.test.ts). The slot's words and the arbiter's answer are scripted.
 */
import { expect, test } from "bun:test";
import { failure, isIvshError } from "../src/errors.ts";
import { ChannelState } from "../src/region/layout.ts";
import { awaitTransfer } from "../src/transfer/receiver-ring.ts";
import type { ChannelSlot } from "../src/transfer/slot.ts";

test("a transfer found while the lease is in doubt is joined only once the lease is confirmed", async () => {
  const words: Record<string, number> = { transfer: 3, state: ChannelState.streaming, receiverJoined: 0 };
  const expired = failure("LeaseExpired", "keep client 4's session", "no heartbeat arrived (lease expired)");
  let asked = 0;
  const slot = {
    load: (word: string) => words[word] ?? 0,
    client: { leaseInDoubt: () => true },
    confirmLive: async () => {
      asked++;
      throw expired;
    },
  } as unknown as ChannelSlot;
  // Before: it resolved with transfer 3, and the receiver joined it with the expired session.
  const outcome = await awaitTransfer(slot).then(
    (transfer) => transfer,
    (error: unknown) => error,
  );
  expect(isIvshError(outcome, "LeaseExpired")).toBe(true);
  expect(asked).toBe(1);
});

test("a transfer found with the lease kept is joined at once, without asking the arbiter", async () => {
  const words: Record<string, number> = { transfer: 5, state: ChannelState.streaming, receiverJoined: 4 };
  let asked = 0;
  const slot = {
    load: (word: string) => words[word] ?? 0,
    client: { leaseInDoubt: () => false },
    confirmLive: async () => {
      asked++;
    },
  } as unknown as ChannelSlot;
  expect(await awaitTransfer(slot)).toBe(5);
  expect(asked).toBe(0);
});

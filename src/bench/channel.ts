/**
 * One ivsh transfer for Fig. 3a/3b (docs/bench/README.md): `ivsh-recv` and `ivsh-send` workers, the socket
 * baselines' pattern, timed on the shared clock from the receiver attaching (as the sockets from accept)
 * and from the sender opening the channel; both report the RPCs they sent.
 */
import { failure } from "../errors.ts";
import { idleCompilerThreads } from "../ffi/index.ts";
import { ChannelReceiver } from "../transfer/receiver.ts";
import { ChannelSender } from "../transfer/sender.ts";
import { withChildren } from "./child.ts";
import { MiB } from "./memory.ts";
import type { BenchPlan } from "./plan.ts";
import { checkPiece, patternChunk } from "./stream.ts";
import {
  type Event,
  emit,
  finalEvents,
  freshChannel,
  nextEvent,
  numberField,
  sharedClockMs,
  startWorker,
  type WorkerFlags,
  withWorkerClient,
  yielder,
} from "./worker-io.ts";

/** One transfer of the plan's bytes (or `bytes`) in `chunkBytes` chunks through `arbiter`'s region. */
export async function measureChannelTransfer(
  plan: Pick<BenchPlan, "bytes" | "depth">,
  arbiter: { readonly socket: string; readonly region: string },
  chunkBytes: number,
  bytes = plan.bytes,
) {
  const channel = freshChannel("bench");
  const where = { socket: arbiter.socket, region: arbiter.region, channel };
  const action = `stream ${bytes} bytes through ivsh in ${chunkBytes}-byte chunks`;
  const timeoutMs = 60_000 + bytes / 20e3;
  return withChildren(action, timeoutMs, async (children) => {
    const receiver = startWorker(children, "ivsh-recv", where);
    await nextEvent(receiver, "waiting");
    const sending = { ...where, bytes, chunk: chunkBytes, depth: plan.depth };
    const sender = startWorker(children, "ivsh-send", sending);
    const [sent, received] = await finalEvents([sender, "sent"], [receiver, "received"]);
    return checkedTransfer(action, bytes, sent, received);
  });
}

/** Refuses a transfer whose receiver found a wrong byte, or that did not move all of `bytes`. */
export function checkArrived(action: string, bytes: number, sent: Event, received: Event): void {
  if (received.wrong) throw failure("DigestMismatch", action, String(received.wrong));
  const got = numberField(received, "bytes");
  if (numberField(sent, "bytes") !== bytes || got !== bytes)
    throw failure("Internal", action, `${bytes} bytes were to be sent but ${got} arrived`);
}

/** The two reports as a transfer (two spans, RPCs by operation), refusing one that lost or garbled data. */
function checkedTransfer(action: string, bytes: number, sent: Event, received: Event) {
  checkArrived(action, bytes, sent, received);
  const endMs = numberField(received, "endMs");
  const seconds = (endMs - numberField(received, "openedMs")) / 1000;
  const withSetupSeconds = (endMs - numberField(sent, "startMs")) / 1000;
  if (!(seconds > 0) || withSetupSeconds < seconds)
    throw failure("Internal", action, `its durations ${seconds} s and ${withSetupSeconds} s do not fit`);
  const requests: Record<string, number> = {};
  for (const [name, count] of [sent, received].flatMap((event) => Object.entries(event.requests ?? {})))
    requests[name] = (requests[name] ?? 0) + (count as number);
  return { seconds, withSetupSeconds, requests };
}

const PATTERN_BYTES = 1 * MiB;

/** RPCs sent per operation since `before` (what a transfer cost in arbiter round trips). */
function requestsSince(counts: ReadonlyMap<string, number>, before: ReadonlyMap<string, number>) {
  const spent: Record<string, number> = {};
  for (const [name, count] of counts) {
    const delta = count - (before.get(name) ?? 0);
    if (delta > 0) spent[name] = delta;
  }
  return spent;
}

export async function runChannelSender(flags: WorkerFlags): Promise<void> {
  const bytes = flags.size("bytes");
  const chunkBytes = flags.size("chunk");
  const depth = flags.count("depth");
  const channel = flags.string("channel");
  const pattern = patternChunk(PATTERN_BYTES);
  await withWorkerClient(flags, `bench send ${channel}`, async (client) => {
    const before = new Map(client.requestCounts);
    const yieldSometimes = yielder();
    // As `ivsh guest send` does (src/transfer/run.ts).
    idleCompilerThreads();
    const startMs = sharedClockMs();
    const sender = await ChannelSender.open(client, channel, { chunkBytes, depth });
    try {
      let sent = 0;
      while (sent < bytes) {
        const at = sent % pattern.byteLength;
        const count = Math.min(pattern.byteLength - at, bytes - sent);
        await sender.write(pattern.subarray(at, at + count));
        sent += count;
        await yieldSometimes();
      }
      await sender.finish();
      const finishMs = sharedClockMs();
      const requests = requestsSince(client.requestCounts, before);
      emit({ event: "sent", bytes: sent, startMs, finishMs, requests });
    } finally {
      await sender.close();
    }
  });
}

export async function runChannelReceiver(flags: WorkerFlags): Promise<void> {
  const channel = flags.string("channel");
  await withWorkerClient(flags, `bench recv ${channel}`, async (client) => {
    const before = new Map(client.requestCounts);
    const onWaiting = () => emit({ event: "waiting" });
    idleCompilerThreads();
    const receiver = await ChannelReceiver.open(client, channel, { onWaiting });
    // The span's start on this side, for a sender whose clock is not ours (in a VM).
    const openedMs = sharedClockMs();
    try {
      const yieldSometimes = yielder();
      let offset = 0;
      let wrong: string | undefined;
      for (;;) {
        const got = await receiver.receive((chunk) => {
          wrong ??= checkPiece(chunk, offset, PATTERN_BYTES);
        });
        if (got === undefined) break;
        offset += got;
        await yieldSometimes();
      }
      const endMs = sharedClockMs();
      const requests = requestsSince(client.requestCounts, before);
      emit({
        event: "received",
        bytes: receiver.digest.bytes,
        openedMs,
        endMs,
        requests,
        wrong: wrong ?? null,
      });
    } finally {
      await receiver.close();
    }
  });
}

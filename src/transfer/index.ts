/**
 * The package's `ivsh/channel`: streams through a ring in the region, one sender and one receiver per
 * channel name, every byte hashed on both sides (what `ivsh guest send` / `recv` run on). Open each end
 * with a client from `connect()` (package `ivsh`); `send((chunk, address) => bytesWritten)` fills the
 * ring in place where `write(bytes)` copies:
 *
 * ```ts
 * import { connect } from "ivsh";
 * import { ChannelReceiver, ChannelSender, formatDigest } from "ivsh/channel";
 *
 * const client = await connect();
 * const other = await connect(); // the receiver's, usually in another process or VM
 * const receiving = (async () => {
 *   const receiver = await ChannelReceiver.open(other, "logs");
 *   let received = 0;
 *   // Each chunk is the ring itself, valid only in the callback; undefined once the sender finished.
 *   while ((await receiver.receive((chunk) => { received += chunk.byteLength; })) !== undefined) {}
 *   await receiver.close();
 *   return received;
 * })();
 * const sender = await ChannelSender.open(client, "logs");
 * await sender.write(new Uint8Array(1 << 20).fill(7));
 * const { bytes, digest } = await sender.finish(); // once the receiver has verified the digest
 * await sender.close();
 * console.log(`sent ${bytes} bytes (${formatDigest(digest)}), received ${await receiving}`);
 * await client.close();
 * await other.close();
 * ```
 * @module ivsh/channel
 */

export type { SetupFailureReason } from "../region/layout.ts";
export type { ChannelClient } from "./channel-client.ts";
export { formatDigest } from "./digest.ts";
export {
  ChannelReceiver,
  type ChunkConsumer,
  type ReceiverOptions,
  type StreamKeeper,
} from "./receiver.ts";
export type { SenderSetupFailure } from "./receiver-ring.ts";
export { type ChannelOptions, DEFAULT_CHUNK_BYTES, DEFAULT_DEPTH } from "./ring-setup.ts";
export { ChannelSender, type ChunkFiller, type TransferSummary } from "./sender.ts";

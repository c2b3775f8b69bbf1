/**
 * The package's `ivsh/channel`: streams through a ring in the region, one sender and one receiver per
 * channel name, every byte hashed on both sides (what `ivsh guest send` / `recv` run on). Open each end
 * with a client from `connect()` (package `ivsh`):
 *
 *   const sender = await ChannelSender.open(client, "logs");
 *   await sender.write(bytes);               // or send((chunk, address) => bytesWritten), in place
 *   const { bytes, digest } = await sender.finish();   // resolves once the receiver verified the digest
 *   await sender.close();
 *
 *   const receiver = await ChannelReceiver.open(other, "logs");
 *   while ((await receiver.receive((chunk) => use(chunk))) !== undefined) {}
 *   await receiver.close();
 * @module ivsh/channel
 */

export { formatDigest } from "./digest.ts";
export {
  ChannelReceiver,
  type ChunkConsumer,
  type ReceiverOptions,
  type StreamKeeper,
} from "./receiver.ts";
export { type ChannelOptions, DEFAULT_CHUNK_BYTES, DEFAULT_DEPTH } from "./ring-setup.ts";
export { ChannelSender, type ChunkFiller, type TransferSummary } from "./sender.ts";

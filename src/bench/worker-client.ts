/**
 * A bench worker's connection to the arbiter: where it is (flags on the host, the device in a guest), a
 * client closed however the work ends, and the words of a sync slot that two workers share beside what
 * the slot's mutex or condvar uses itself.
 */
import { type Client, connect } from "../guest/client.ts";
import type { ConnectOptions } from "../guest/connect-options.ts";
import { waitUntil } from "./child.ts";
import type { WorkerFlags } from "./worker-io.ts";

/** Where a worker finds the arbiter: explicit flags on the host; nothing in a guest (the device is found). */
export function workerConnectOptions(flags: WorkerFlags, name: string): ConnectOptions {
  const options: ConnectOptions = { name };
  const socket = flags.optional("socket");
  const region = flags.optional("region");
  const resource = flags.optional("resource");
  if (socket) options.socket = socket;
  if (region) options.region = region;
  if (resource === "resource2" || resource === "resource2_wc") options.resource = resource;
  return options;
}

/** Runs `work` with a client connected with `options`, closed however `work` ends. */
export async function withClient<T>(
  options: ConnectOptions,
  work: (client: Client) => Promise<T>,
): Promise<T> {
  const client = await connect(options);
  try {
    return await work(client);
  } finally {
    await client.close();
  }
}

/** `withClient` for a worker: connected as its flags say, plus `options`. */
export function withWorkerClient<T>(
  flags: WorkerFlags,
  name: string,
  work: (client: Client) => Promise<T>,
  options: Partial<ConnectOptions> = {},
): Promise<T> {
  return withClient({ ...workerConnectOptions(flags, name), ...options }, work);
}

const MEET_TIMEOUT_MS = 30_000;

/** Each of `parties` workers counts itself in on `words[index]` and waits, sleeping, until all are there. */
export async function meet(words: Int32Array, index: number, parties: number): Promise<void> {
  Atomics.add(words, index, 1);
  await waitUntil(() => Atomics.load(words, index) >= parties, "the other workers", MEET_TIMEOUT_MS, 1);
}

/** `count` float64 stamps over the slot words from `word` on (8-byte aligned: slots are 64-byte aligned). */
export function stampsAt(words: Int32Array, word: number, count: number): Float64Array {
  return new Float64Array(words.buffer, words.byteOffset + word * 4, count);
}

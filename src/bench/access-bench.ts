/** Fig. 4b on the host: a region segment (as clients map), anonymous memory, a disk file; rounds rotate. */

import { join } from "node:path";
import { throwIfAborted } from "../errors.ts";
import type { Client } from "../guest/client.ts";
import { anonymousMapping, fileMapping, type Mapping, measureAccess, withMapping } from "./memory.ts";
import { rotate } from "./plan.ts";
import type { AccessSamples, SuiteRun } from "./suite-data.ts";
import { emit, type WorkerFlags, withClient, withWorkerClient } from "./worker-io.ts";

function emptySamples(id: string, label: string): AccessSamples {
  return { id, label, read: [], write: [], latency: [] };
}

function sampleAccess(samples: AccessSamples, mapping: Mapping, latencySteps?: number): void {
  const measured = measureAccess(mapping.address, mapping.length, latencySteps ? { latencySteps } : {});
  samples.read.push(measured.read);
  samples.write.push(measured.write);
  samples.latency.push(measured.latency);
}

export async function measureHostAccess(run: SuiteRun): Promise<AccessSamples[]> {
  const { plan, shm: arbiter } = run;
  const bytes = plan.accessBytes;
  const where = { socket: arbiter.socket, region: arbiter.region, name: "bench access" };
  const diskFile = join(run.diskDir, `ivsh-bench-access-${process.pid}`);
  const measure = async (region: Mapping) => {
    const subjects: [AccessSamples, () => Mapping][] = [
      [emptySamples("access.region", "ivsh region (/dev/shm)"), () => region],
      [emptySamples("access.anonymous", "anonymous memory"), () => anonymousMapping(bytes)],
      [emptySamples("access.disk-file", "mmapped file on disk"), () => fileMapping(diskFile, bytes)],
    ];
    for (let round = 0; round < plan.repeats; round++)
      for (const [samples, open] of rotate(subjects, round)) {
        throwIfAborted(run.signal, "measure memory access");
        withMapping(open(), (mapping) => sampleAccess(samples, mapping));
        // Heartbeats and replies get a turn between the long synchronous passes.
        await Bun.sleep(0);
      }
    return subjects.map(([samples]) => samples);
  };
  return withClient(where, (client) => withRegionSegment(client, bytes, "ivsh region", measure));
}

/** A segment of the region as a mapping to measure: `bytes` allocated by `client`, freed afterwards. */
async function withRegionSegment<T>(
  client: Client,
  bytes: number,
  label: string,
  use: (region: Mapping) => Promise<T>,
): Promise<T> {
  const segment = await client.alloc(bytes, { mode: "write" });
  try {
    return await use({ address: segment.address, length: bytes, label, release() {} });
  } finally {
    await segment.free();
  }
}

/* Fig. 4b in a guest: a segment of its own through resource2 or resource2_wc, or anonymous memory. */
function sample(flags: WorkerFlags, open: () => Mapping, label: string): AccessSamples {
  const samples = emptySamples("access", label);
  const repeats = flags.count("repeats");
  for (let round = 0; round < repeats; round++)
    withMapping(open(), (mapping) => sampleAccess(samples, mapping, flags.count("steps")));
  return samples;
}

export async function runAccessWorker(flags: WorkerFlags): Promise<void> {
  const bytes = flags.size("bytes");
  if (flags.optional("memory") === "anonymous") {
    emit({ event: "access", ...sample(flags, () => anonymousMapping(bytes), "anonymous") });
    return;
  }
  await withWorkerClient(flags, "bench access", (client) =>
    withRegionSegment(client, bytes, "region", async (region) => {
      emit({ event: "access", ...sample(flags, () => region, client.region.source) });
    }),
  );
}

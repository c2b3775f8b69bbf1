/**
 * The report's Fig. 1, "A Bare Bones Writer Loop", ported line by line onto ivsh's shm_* API.
 * Sends FILE through one shared area: byte 0 is the report's "data available" bool, the rest the chunk.
 *
 *   bun examples/fig1-writer.ts FILE [--socket PATH] [--region PATH] [--size BYTES]
 */
import { parseArgs } from "node:util";
import * as shm from "../src/guest/shm.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    socket: { type: "string" },
    region: { type: "string" },
    size: { type: "string", default: "1048577" },
  },
});
const file = positionals[0];
if (!file) throw new Error("usage: fig1-writer.ts FILE [--socket PATH] [--region PATH] [--size BYTES]");
const data = new Uint8Array(await Bun.file(file).arrayBuffer());
const size = Number(values.size);
const chunk = size - 1; // size - sizeof(bool)

await shm.shm_init({ socket: values.socket, region: values.region, name: "fig1-writer" });
const uid = shm.shm_uid();
const cvid = await shm.shm_create_cv("fig1");
// Hold the cv while the area is created and cleared, so the reader never sees it uninitialised.
await shm.shm_acquire_cv(cvid, uid);
const area = await shm.shm_alloc(size, "write", "fig1");
const offset = area.bytes;
offset[0] = 0;
shm.shm_release_cv(cvid, uid);

const to_transfer = Math.ceil(data.length / chunk);
let i = 0;
while (i < to_transfer) {
  // Check shared variable
  await shm.shm_acquire_cv(cvid, uid);
  if (!offset[0]) {
    // Data not available, write here
    offset.set(data.subarray(i * chunk, (i + 1) * chunk), 1);
    ++i;
    offset[0] = 1;
    // Notify the reader
    shm.shm_notify_cv(cvid, uid);
  } else {
    // Wait for the reader
    await shm.shm_wait_cv(cvid, uid);
  }
  shm.shm_release_cv(cvid, uid);
}

// Let the reader take the last chunk before the area goes away.
await shm.shm_acquire_cv(cvid, uid);
while (offset[0]) await shm.shm_wait_cv(cvid, uid);
shm.shm_release_cv(cvid, uid);
console.log(JSON.stringify({ event: "sent", bytes: data.length, chunks: to_transfer }));
await shm.shm_dealloc(area);
await shm.shm_finish();

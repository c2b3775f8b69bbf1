/**
 * The report's Fig. 2, "A Bare Bones Reader Loop", ported line by line onto ivsh's shm_* API.
 * Receives BYTES bytes from fig1-writer into OUT.
 *
 *   bun examples/fig2-reader.ts OUT BYTES [--socket PATH] [--region PATH] [--size BYTES]
 */
import { parseArgs } from "node:util";
import { isIvshError } from "../src/errors.ts";
import * as shm from "../src/guest/shm.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    socket: { type: "string" },
    region: { type: "string" },
    size: { type: "string", default: "1048577" },
  },
});
const [out, total] = [positionals[0], Number(positionals[1])];
if (!out || !Number.isSafeInteger(total))
  throw new Error("usage: fig2-reader.ts OUT BYTES [--socket PATH] [--region PATH]");
const size = Number(values.size);
const chunk = size - 1;
const data = new Uint8Array(total);

await shm.shm_init({ socket: values.socket, region: values.region, name: "fig2-reader" });
const uid = shm.shm_uid();
const cvid = await shm.shm_create_cv("fig1");
const area = await openWhenCreated("fig1");
const offset = area.bytes;

const to_transfer = Math.ceil(total / chunk);
let i = 0;
while (i < to_transfer) {
  // Check shared variable
  await shm.shm_acquire_cv(cvid, uid);
  if (offset[0]) {
    // Data available, read here
    const length = Math.min(chunk, total - i * chunk);
    data.set(offset.subarray(1, 1 + length), i * chunk);
    ++i;
    offset[0] = 0;
    // Notify the writer
    shm.shm_notify_cv(cvid, uid);
  } else {
    // Wait for the writer
    await shm.shm_wait_cv(cvid, uid);
  }
  shm.shm_release_cv(cvid, uid);
}

await Bun.write(out, data);
console.log(JSON.stringify({ event: "received", bytes: total, chunks: to_transfer }));
await shm.shm_dealloc(area);
await shm.shm_finish();

/** The writer creates the area; the reader may start first and waits for it. */
async function openWhenCreated(name: string) {
  for (;;) {
    try {
      return await shm.shm_open(name, "write");
    } catch (error) {
      if (!isIvshError(error, "NotFound")) throw error;
      await Bun.sleep(10);
    }
  }
}

/**
 * A region on a tmpfs that another file filled after the arbiter started: the file's holes cannot be given
 * pages, so the sender's first read into its ring fails with EFAULT. Found by a trial: the sender said
 * "its file was truncated while in use; restart the arbiter on an intact region", though the file was
 * whole and a restart would not have helped. It says the file system is full, and to free space there.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { existsSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Client, connect } from "../src/guest/index.ts";
import { fullFileSystem } from "../src/region/region-file.ts";
import { ChannelReceiver, ChannelSender } from "../src/transfer/index.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";
import { cannotMount, withSmallTmpfs } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("ring-full-fs");
});
afterAll(() => paths?.cleanup());

testUnless(
  cannotMount,
  "a ring on a tmpfs filled after the arbiter started: the file system named full, not the file truncated",
  () =>
    withSmallTmpfs(join(paths.dir, "small"), "8m", async (small) => {
      const region = join(small, "region");
      const arbiter = await ArbiterProcess.start(
        { ...paths, region, state: join(paths.dir, "state") },
        { size: "4MiB" },
      );
      const clients: Client[] = [];
      let receiving = Promise.resolve();
      try {
        // Every free page of the tmpfs taken by another file: the region's holes have none left.
        writeFileSync(join(small, "filler"), Buffer.alloc(8 << 20));
      } catch {
        // ENOSPC once it is full: that is the point.
      }
      try {
        for (const name of ["full-sender", "full-receiver"])
          clients.push(await connect({ socket: paths.socket, region, name }));
        receiving = ChannelReceiver.open(clients[1]!, "full").then(
          async (receiver) => {
            await receiver.receive(() => {}).catch(() => {});
            await receiver.close().catch(() => {});
          },
          () => {},
        );
        const sender = await ChannelSender.open(clients[0]!, "full", {
          chunkBytes: 512 << 10,
          depth: 4,
        }).catch((error: Error) => error);
        const failed =
          sender instanceof Error
            ? sender
            : await sender.write(new Uint8Array(3 << 20).fill(7)).then(
                () => new Error("the write succeeded on a full file system"),
                (error: Error) => error,
              );
        expect(failed.message).not.toContain("truncated");
        expect(failed.message).toMatch(/its file system at \S+ is full/);
        if (!(sender instanceof Error)) await sender.close().catch(() => {});
      } finally {
        // The receiver waits for data that never comes: its client's close ends that wait.
        await Promise.all(clients.map((client) => client.close().catch(() => {})));
        await receiving;
        await arbiter.stop();
      }
    }),
  60_000,
);

// Found by a review: a guest's region is its device's resource2 in sysfs, a "file" of the BAR's size with
// no blocks on a file system with none free, which was said to be a full file system to free space on.
const sysfsFile = ["/sys/bus/pci/devices", "/sys/devices/system/cpu/online"].find((path) => existsSync(path));
testUnless(
  sysfsFile ? undefined : "no /sys here to look at",
  "a file in sysfs (a guest's device) is not said to be on a full file system",
  () => {
    let file = sysfsFile!;
    if (file === "/sys/bus/pci/devices") {
      const device = readdirSync(file).find((name) => existsSync(join(file, name, "resource")));
      file = device ? join(file, device, "resource") : "/sys/devices/system/cpu/online";
    }
    expect(fullFileSystem(file, statSync(file).size)).toBeUndefined();
  },
);

/**
 * A VM whose IVSHMEM device maps the arbiter's region file without share=on (QEMU's memory-backend-file
 * default): the guest reads the file's pages as they were, and its own writes stay private. A client there
 * saw the arbiter's header, took the region, and both ends of a channel waited for ever, each in its own copy.
 * It must be refused at once, and the refusal must name share=on, not "another arbiter or run".
 */
import { expect } from "bun:test";
import { truncateSync } from "node:fs";
import { join } from "node:path";
import { testWithTool } from "../helpers/tools.ts";
import { GUEST_PRELUDE, vmName, vmSuite } from "./vm.ts";

const REGION_BYTES = 16 << 20;

// launch.sh's own device is a blank file (refused, naming the other device); the second maps the arbiter's
// region with share=off. Its send gets a limit far above a refusal's time, so a wait shows as "no receiver".
const SCRIPT = `${GUEST_PRELUDE}
echo "private copy" > /tmp/file
ivsh guest send /tmp/file --timeout 60s 2>/tmp/err; report blank $?
flags=$(sed -n 's/.* pass \\(--region [^ ]* --connect [^ ]*\\) .*/\\1/p' /tmp/err)
echo "flags: $flags"
ivsh guest send /tmp/file --channel share-off --timeout 90s $flags 2>/tmp/err; report share-off $?
cat /tmp/err
`;

const suite = vmSuite("vm-share-off");

testWithTool(
  "qemu-system-x86_64",
  "a device mapping the arbiter's region without share=on is refused at once, naming share=on",
  async () => {
    const blank = join(suite.paths.shmDir, "blank");
    await Bun.write(blank, "");
    truncateSync(blank, 4 << 20);
    const vm = suite.launch({
      name: vmName("share-off"),
      region: blank,
      script: SCRIPT,
      timeoutS: 220,
      qemuArgs: [
        "-object",
        `memory-backend-file,id=private,share=off,mem-path=${suite.paths.region},size=${REGION_BYTES}`,
        "-device",
        "ivshmem-plain,memdev=private",
      ],
    });
    expect((await vm.next("blank", 150_000)).rc).toBe(1);
    const refused = await vm.next("share-off", 150_000);
    await vm.events.finished;
    const text = vm.events.text;
    expect(text).not.toMatch(/no receiver showed up/);
    expect(text).toMatch(/without share=on/);
    expect(text).toMatch(/memory-backend-file,share=on/);
    expect(text).not.toMatch(/another arbiter or run/);
    expect(refused.rc).toBe(1);
  },
  240_000,
);

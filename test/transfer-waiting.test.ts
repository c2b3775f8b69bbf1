/**
 * How long a transfer's end waits: --timeout for the other end to show up, and Ctrl-C while it keeps
 * connecting to an arbiter that is restarting.
 */
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { waitUntilOpen } from "./helpers/open-files.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { guest, outPath, randomFile } from "./helpers/transfer.ts";

const MIB = 1 << 20;
const suite = sharedArbiter("waiting", { size: "64MiB" });

describe("--timeout: how long an end waits for the other to show up", () => {
  test("a receiver with no sender gives up, exit 1, naming the limit; no file left", async () => {
    const output = outPath(suite.paths, "lonely.out");
    const receiver = guest(suite.paths, [
      "recv",
      "--channel",
      "lonely",
      "--out",
      output,
      "--timeout",
      "300ms",
    ]);
    expect(await receiver.exit()).toBe(1);
    expect(await receiver.stderr).toContain(
      "Failed to receive on channel 'lonely' since no sender showed up within 300 ms (--timeout)",
    );
    expect(await Bun.file(`${output}.partial`).exists()).toBe(false);
  });

  for (const [label, bytes] of [
    ["a file larger than the ring (it waits for space)", 12 * MIB],
    ["a file the ring holds (it waits for the verdict)", 4096],
  ] as const)
    test(`a sender with no receiver gives up: ${label}`, async () => {
      const channel = `unheard-${bytes}`;
      const input = join(suite.dir, `${channel}.in`);
      await randomFile(input, bytes);
      const sender = guest(suite.paths, ["send", input, "--channel", channel, "--timeout", "300ms"]);
      expect(await sender.exit()).toBe(1);
      expect(await sender.stderr).toContain(
        `Failed to send on channel '${channel}' since no receiver showed up within 300 ms (--timeout)`,
      );
      // The channel is free again: a sender and receiver after it meet normally.
      const output = outPath(suite.paths, `${channel}.out`);
      const receiver = guest(suite.paths, ["recv", "--channel", channel, "--out", output]);
      const again = guest(suite.paths, ["send", input, "--channel", channel, "--timeout", "60s"]);
      expect([await again.exit(), await receiver.exit()]).toEqual([0, 0]);
    });

  test("once both ends are there, --timeout does not limit the transfer (a pipe fed for longer)", async () => {
    const output = outPath(suite.paths, "slow-pipe.out");
    const receiver = guest(suite.paths, [
      "recv",
      "--channel",
      "slow-pipe",
      "--out",
      output,
      "--timeout",
      "10s",
    ]);
    await waitUntilOpen(receiver.proc.pid, `${output}.partial`); // it is up before the sender starts
    const sender = guest(suite.paths, ["send", "-", "--channel", "slow-pipe", "--timeout", "1s"]);
    const piece = new Uint8Array(100_000).fill(9);
    // Fed over about two seconds, twice the sender's limit, after both ends have met.
    for (let round = 0; round < 10; round++) {
      sender.proc.stdin.write(piece);
      await sender.proc.stdin.flush();
      await Bun.sleep(200);
    }
    await sender.proc.stdin.end();
    expect([await sender.exit(), await receiver.exit()]).toEqual([0, 0]);
    expect(Bun.file(output).size).toBe(1_000_000);
    // Its own budget: 2 s of feeding, 3.2 s under load, near bun's 5 s for a file run alone.
  }, 30_000);

  test("a --timeout that is not a duration, negative, or one no timer can wait (0, 600h), is a usage error naming the form", async () => {
    const sender = guest(suite.paths, ["send", "/etc/hostname", "--timeout", "soon"]);
    expect(await sender.exit()).toBe(2);
    expect(await sender.stderr).toContain("--timeout 'soon' since it is not a duration");
    // A bare number was seconds: `--timeout 500` waited 8 min 20 s, not the 500 ms its writer may have meant.
    const bare = guest(suite.paths, ["recv", "--out", "-", "--timeout", "500"]);
    expect(await bare.exit()).toBe(2);
    expect(await bare.stderr).toContain(
      "--timeout '500' since it has no unit: write one, e.g. 500ms or 500s",
    );
    const refusals: [string, string][] = [
      [
        "0",
        "--timeout 0 since it is shorter than 1ms, the least --timeout takes (leave it out to wait as long as it takes)",
      ],
      // The longest was said "596 h 31 min", which no duration flag takes.
      [
        "600h",
        "--timeout 600h since it is longer than 2147483647ms (about 596h), the longest a timer can wait (leave it out to wait as long as it takes)",
      ],
      [
        "-5s",
        "--timeout '-5s' since it has a sign: --timeout takes a positive duration, 1ms or more, written without one, like 5s or 250ms",
      ],
      ["-0", "--timeout '-0' since it has a sign: --timeout takes a positive duration, 1ms or more,"],
      ["NaN", "--timeout 'NaN' since it is not a duration like 5s or 250ms"],
      ["1e309", "--timeout '1e309' since it is not a duration like 5s or 250ms"],
      ["10x", "--timeout '10x' since it is not a duration like 5s or 250ms"],
    ];
    for (const [value, message] of refusals)
      for (const command of [
        ["recv", "--out", "-"],
        ["send", "/etc/hostname"],
      ]) {
        const end = guest(suite.paths, [...command, "--timeout", value]);
        expect(await end.exit()).toBe(2);
        expect(await end.stderr).toContain(`Failed to ${message.includes("'") ? "parse" : "use"} ${message}`);
      }
  });
});

test("Ctrl-C while connecting to an arbiter that keeps closing during hello (restarting): exit 130, not 30 s of retries", async () => {
  let accepted = 0;
  const socket = join(suite.dir, "restarting.sock");
  const listener = Bun.listen({
    unix: socket,
    socket: {
      open() {
        accepted++;
      },
      data(connection) {
        connection.end(); // what a restarting arbiter's socket does to a hello
      },
    },
  });
  try {
    const output = outPath(suite.paths, "restarting.out");
    const receiver = guest(suite.paths, [
      "recv",
      "--channel",
      "restarting",
      "--out",
      output,
      "--socket",
      socket,
    ]);
    while (accepted < 2) await Bun.sleep(10); // it is retrying now
    receiver.proc.kill("SIGINT");
    expect(await receiver.exit()).toBe(130);
    expect(await receiver.stderr).toContain("connect to the arbiter since it was interrupted by SIGINT");
    expect(existsSync(`${output}.partial`)).toBe(false);
  } finally {
    listener.stop(true);
  }
});

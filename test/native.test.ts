/**
 * The channel digest: the native copy+hash helper against the definition (Bun.hash.xxHash3 per piece,
 * chained through the low 32 bits), the portable path against the native one, and both ends of real
 * transfers using different paths.
 */
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { addressOf } from "../src/ffi/index.ts";
import { BUILT_LIBRARY, nativeHash, nativeStatus } from "../src/ffi/native.ts";
import { DIGEST_PIECE_BYTES, StreamDigest } from "../src/transfer/digest.ts";
import { formatted, recordsOf, referenceDigest, testStream } from "./helpers/digest.ts";
import { FIXTURES } from "./helpers/paths.ts";
import { spawnBun, spawnFixture } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { testUnless } from "./helpers/tools.ts";
import { guest } from "./helpers/transfer.ts";
import { BINARY, ensureBinary } from "./vm/vm.ts";

const native = nativeHash();
const status = nativeStatus();
const notActive = native
  ? undefined
  : `the native helper is not in use here: ${status.detail} (npm install builds it with a C compiler)`;
const nativeTest = (name: string, run: () => Promise<void> | void, timeoutMs?: number) =>
  testUnless(notActive, name, run, timeoutMs);

/** Lengths around every boundary the helper has: 240/241 (XXH3's long path), stripes, blocks, pieces. */
const LENGTHS = [
  0,
  1,
  240,
  241,
  255,
  256,
  257,
  1023,
  1024,
  1025,
  1087,
  1088,
  1089,
  4095,
  4096,
  65535,
  65536,
  65537,
  65536 + 240,
  65536 + 241,
  3 * 65536 + 100,
  1 << 20,
  (1 << 20) + 13,
];
const STATES = [0n, 1n, 0xffffffffn, 0x1_0000_0000n, 0xdead_beef_cafe_f00dn];

describe("native helper", () => {
  const notBuilt = existsSync(BUILT_LIBRARY)
    ? process.env.IVSH_NATIVE && "IVSH_NATIVE is set, which chooses the path itself"
    : `${BUILT_LIBRARY} is not built (there was no C compiler when npm install ran)`;
  testUnless(notBuilt || undefined, "loads in a checkout where it is built (npm install builds it)", () => {
    expect(status).toEqual({ active: true, detail: "native AVX2 copy+hash (build/native)" });
  });

  nativeTest("hashes every piece as XXH3-64 with the low 32 bits of the state as seed", () => {
    const data = testStream(2 << 20, 7);
    for (const length of LENGTHS)
      for (const start of STATES) {
        const state = new BigUint64Array([start]);
        const done = native!.digestPieces(
          null,
          addressOf(data),
          length,
          DIGEST_PIECE_BYTES,
          addressOf(state),
        );
        const lastPiece = length % DIGEST_PIECE_BYTES || DIGEST_PIECE_BYTES;
        // It stops only before a last piece XXH3 takes its short path for.
        expect(done).toBe(length === 0 || lastPiece > 240 ? length : length - lastPiece);
        let expected = start;
        for (let at = 0; at < done; at += DIGEST_PIECE_BYTES)
          expected = Bun.hash.xxHash3(
            data.subarray(at, Math.min(at + DIGEST_PIECE_BYTES, done)),
            expected & 0xffffffffn,
          );
        expect([length, start, state[0]]).toEqual([length, start, expected]);
      }
  });

  nativeTest("copies exactly the source, at any alignment, and nothing past the destination's end", () => {
    const source = testStream((1 << 20) + 4096, 11);
    for (const [from, to] of [
      [0, 0],
      [1, 0],
      [0, 3],
      [63, 17],
    ] as const)
      for (const length of [241, 1089, 65537, (1 << 20) + 13]) {
        const destination = new Uint8Array(length + 128).fill(0xa5);
        const copied = new BigUint64Array(1);
        const hashed = new BigUint64Array(1);
        const view = source.subarray(from, from + length);
        native!.digestPieces(
          addressOf(destination) + to,
          addressOf(view),
          length,
          DIGEST_PIECE_BYTES,
          addressOf(copied),
        );
        native!.digestPieces(null, addressOf(view), length, DIGEST_PIECE_BYTES, addressOf(hashed));
        const done =
          length % DIGEST_PIECE_BYTES > 240 || length % DIGEST_PIECE_BYTES === 0
            ? length
            : length - (length % DIGEST_PIECE_BYTES);
        expect(Buffer.compare(destination.subarray(to, to + done), view.subarray(0, done))).toBe(0);
        expect(destination.subarray(0, to).every((byte) => byte === 0xa5)).toBe(true);
        expect(destination.subarray(to + done).every((byte) => byte === 0xa5)).toBe(true);
        expect(copied[0]).toBe(hashed[0]!);
      }
  });
});

describe("StreamDigest, on both paths", () => {
  const CASES: [number, number, number][] = [
    [0, 1, 65536],
    [1, 2, 65536],
    [240, 3, 4096],
    [65536 + 200, 4, 1 << 20],
    [5 * 65536 + 241, 5, 96 * 1024],
    [(3 << 20) + 7, 6, 1 << 20],
  ];

  test("update and copyAndUpdate follow the definition in this process", () => {
    for (const [length, seed, chunk] of CASES) {
      const data = testStream(length, seed);
      const updated = new StreamDigest();
      const copied = new StreamDigest();
      for (const record of recordsOf(data, chunk)) {
        updated.update(record);
        const copy = new Uint8Array(record.byteLength);
        copied.copyAndUpdate(copy, record);
        expect(Buffer.compare(copy, record)).toBe(0);
      }
      const expected = referenceDigest(recordsOf(data, chunk));
      expect([updated.value, copied.value, updated.bytes]).toEqual([expected, expected, length]);
    }
  });

  test("the portable path (IVSH_NATIVE=0) computes what this process computes", async () => {
    const run = async (env: Record<string, string>) => {
      const child = spawnBun([join(FIXTURES, "digests.ts"), JSON.stringify({ cases: CASES })], env);
      expect(await child.exit()).toBe(0);
      await child.events.finished;
      return JSON.parse(child.events.lines.at(-1)!) as {
        path: string;
        results: { updated: string; copied: string }[];
      };
    };
    const portable = await run({ IVSH_NATIVE: "0" });
    const usual = await run({});
    expect(portable.path).toBe("portable (IVSH_NATIVE=0)");
    const expected = CASES.map(([length, seed, chunk]) => {
      const digest = formatted(referenceDigest(recordsOf(testStream(length, seed), chunk)));
      return { updated: digest, copied: digest };
    });
    expect(portable.results).toEqual(expected);
    expect(usual.results).toEqual(expected);
  });
});

describe("whole transfers", () => {
  const suite = sharedArbiter("digest-paths", { size: "64MiB" });

  nativeTest(
    "the compiled ivsh carries the helper inside: no build/ directory needed",
    async () => {
      await ensureBinary();
      const file = join(suite.dir, "compiled.in");
      const data = testStream(3 << 20, 9);
      await Bun.write(file, data);
      const env = { ...process.env, IVSH_SOCKET: suite.socket, IVSH_REGION: suite.region, NO_COLOR: "1" };
      // Run from a directory with no build/ next to it, so only the embedded copy can be found.
      const options = { cwd: "/", env, stdout: "pipe", stderr: "pipe" } as const;
      const receiver = Bun.spawn(
        [BINARY, "guest", "recv", "--channel", "compiled", "--out", "/dev/null", "--json"],
        options,
      );
      const sender = Bun.spawn([BINARY, "guest", "send", file, "--channel", "compiled", "--json"], options);
      const [sent, received] = await Promise.all([
        new Response(sender.stdout).text(),
        new Response(receiver.stdout).text(),
      ]);
      expect([await sender.exited, await receiver.exited]).toEqual([0, 0]);
      for (const summary of [sent, received].map((text) => JSON.parse(text.trim().split("\n").at(-1)!))) {
        expect(summary.digestPath).toBe("native AVX2 copy+hash (embedded)");
        expect(summary.digest).toBe(formatted(referenceDigest(recordsOf(data, 1 << 20))));
      }
    },
    120_000,
  );

  for (const [label, senderEnv, receiverEnv] of [
    ["native sender, portable receiver", { IVSH_NATIVE: "1" }, { IVSH_NATIVE: "0" }],
    ["portable sender, native receiver", { IVSH_NATIVE: "0" }, { IVSH_NATIVE: "1" }],
  ] as const)
    test(`${label}: odd write sizes arrive bit-exact with the defined digest`, async () => {
      const channel = label.replace(/\W+/g, "-");
      const bytes = 5 * (1 << 20) + 17;
      const chunk = 256 * 1024;
      const output = join(suite.dir, `${channel}.out`);
      const receiver = guest(
        suite.paths,
        ["recv", "--channel", channel, "--out", output, "--json"],
        receiverEnv,
      );
      const sender = spawnFixture(
        "stream-writer",
        {
          socket: suite.socket,
          region: suite.region,
          channel,
          bytes,
          chunk,
          // Whole pieces, parts of pieces, pieces split across writes, and writes spanning chunks.
          writes: [1000, 70_000, 65_536, 1 << 20, 3, 131_072 + 5],
        },
        senderEnv,
      );
      expect(await sender.exit()).toBe(0);
      expect(await receiver.exit()).toBe(0);
      await Promise.all([sender.events.finished, receiver.events.finished]);
      const expected = formatted(referenceDigest(recordsOf(testStream(bytes, 1), chunk)));
      expect(JSON.parse(sender.events.lines.at(-1)!).digest).toBe(expected);
      const received = JSON.parse(receiver.events.lines.at(-1)!);
      expect(received.digest).toBe(expected);
      expect(received.digestPath).toStartWith(receiverEnv.IVSH_NATIVE === "0" ? "portable" : "native");
      expect(Buffer.compare(new Uint8Array(await Bun.file(output).arrayBuffer()), testStream(bytes, 1))).toBe(
        0,
      );
    });
});

/**
 * A host client given only the socket asks the arbiter which region it serves before connecting. That
 * question waited its own 10 s for a stopped arbiter, whatever connectTimeoutMs said: `connect({ socket,
 * connectTimeoutMs: 1000 })` (a command's `--timeout 1s`) gave up only after 10 s, saying "within 10 s".
 */
import { afterEach } from "bun:test";
import { existsSync } from "node:fs";
import { DEFAULT_REGION } from "../src/defaults.ts";
import { connect } from "../src/guest/index.ts";
import { expectRejection } from "./helpers/errors.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { testUnless } from "./helpers/tools.ts";

const suite = sharedArbiter("socket-only-timeout", { lease: "1000ms" });
afterEach(() => {
  suite.arbiter.spawned.proc.kill("SIGCONT");
});

/** A client given no region maps the default one when it exists: this test needs it absent. */
const defaultRegionInTheWay = existsSync(DEFAULT_REGION)
  ? `${DEFAULT_REGION} exists on this machine, and a client given no region maps it`
  : undefined;

testUnless(
  defaultRegionInTheWay,
  "connect({ socket, connectTimeoutMs }) to a stopped arbiter gives up after connectTimeoutMs",
  async () => {
    suite.arbiter.spawned.proc.kill("SIGSTOP");
    const connecting = connect({ socket: suite.socket, connectTimeoutMs: 1000 });
    await expectRejection(
      connecting,
      "ArbiterUnreachable",
      /did not answer within 1 s \(its process may be stopped/,
    );
  },
  30_000,
);

testUnless(
  defaultRegionInTheWay,
  "connect({ socket }) with a timeout no timer can hold is refused as such, before asking the arbiter",
  async () => {
    await expectRejection(
      connect({ socket: suite.socket, connectTimeoutMs: Number.NaN }),
      "InvalidArgument",
      /NaN/,
    );
  },
);

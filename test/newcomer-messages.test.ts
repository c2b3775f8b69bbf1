/**
 * What a newcomer meets when copying the README's examples. Its first example puts the other process's
 * lines (`client.open("frame")`) in a comment; pasted into the same script, they open, with the client
 * that allocated the segment, a name it already holds. The refusal said only "this client already holds
 * it": what failed and why, but not what to do instead.
 */
import { expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { expectRejection } from "./helpers/errors.ts";
import { clientConfig, runCli } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("newcomer-messages");

test("opening a segment the same client holds already says to use the Segment it has, or another client", async () => {
  const client = await connect(clientConfig(suite.paths, { name: "newcomer" }));
  const frame = await client.alloc(4096, { name: "frame", mode: "write-exclusive" });
  await expectRejection(
    client.open("frame"),
    "InvalidArgument",
    /this client already holds it .*Segment .*returned.*connect\(\)/,
  );
  await frame.free();
  await client.close();
}, 60_000);

/**
 * The README's host section runs `ivsh guest send` and `ivsh guest recv` on the host, so a newcomer types
 * `ivsh send FILE`: told only "Unknown command 'send'", with nothing under `ivsh --help` named send.
 */
test("a command that lives under a group (ivsh send) names the command meant (ivsh guest send)", async () => {
  for (const [word, meant] of [
    ["send", "ivsh guest send"],
    ["recv", "ivsh guest recv"],
  ]) {
    const result = await runCli([word!, "big.iso"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(`Unknown command '${word}'`);
    expect(result.stderr).toContain(`did you mean '${meant}'? (guest commands run on the host too)`);
  }
  // A command of the example group: named as well, without the guest commands' note.
  const example = await runCli(["fig1-writer", "big.iso"]);
  expect(example.exitCode).toBe(2);
  expect(example.stderr).toContain(
    "Unknown command 'fig1-writer': did you mean 'ivsh example fig1-writer'?\n",
  );
  const typo = await runCli(["hots"]);
  expect(typo.stderr).toContain("Run 'ivsh --help' to see the commands.");
}, 60_000);

/**
 * `--socket /run/ivsh` (the directory the README's service puts its socket in) instead of the socket in
 * it: both the arbiter and a client called the directory "a file that is not a socket", so the user went
 * looking for a stray file instead of adding the socket's name.
 */
test("--socket naming a directory says it is a directory and to name the socket in it", async () => {
  const dir = suite.dir;
  const client = await runCli(["status", "--socket", dir]);
  expect(client.exitCode).toBe(1);
  expect(client.stderr).toContain(`${dir} since it is a directory, not a socket`);
  expect(client.stderr).toContain(`${dir}/ivsh.sock`);
  const region = `${suite.shmDir}/never-made.region`;
  const host = await runCli(["host", "--socket", dir, "--region", region, "--size", "1MiB"]);
  expect(host.exitCode).toBe(1);
  expect(host.stderr).toContain(`${dir} since it is a directory, not a socket`);
  expect(host.stderr).toContain(`${dir}/ivsh.sock`);
}, 60_000);

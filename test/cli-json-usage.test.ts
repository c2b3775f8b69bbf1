/**
 * --json promises one JSON document on a failure too, so a script reads one either way: that holds for a
 * command line refused before the command runs (an unknown flag, a missing FILE, a stray argument), not
 * only for a flag value the command itself refuses.
 */
import { describe, expect, test } from "bun:test";
import { runCli } from "./helpers/processes.ts";

/** The JSON documents among `text`'s lines (stderr also carries the error line). */
function documents(text: string): unknown[] {
  return text
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line));
}

// No arbiter is needed: every command line here is refused before anything is opened.
const NOWHERE = ["--socket", "/nonexistent-ivsh-dir/ivsh.sock", "--region", "/nonexistent-ivsh-dir/region"];

describe("--json on a refused command line", () => {
  test("send: an unknown flag, a missing FILE or a stray argument is one JSON failure on stdout, exit 2", async () => {
    for (const words of [
      ["guest", "send", "--json", "--chanel", "c", "/etc/hostname"],
      ["guest", "send", "--json"],
      ["guest", "send", "--json", "/etc/hostname", "stray"],
    ]) {
      const run = await runCli([...words, ...NOWHERE]);
      expect(run.exitCode).toBe(2);
      expect(documents(run.stdout)).toEqual([
        expect.objectContaining({
          role: "send",
          verified: false,
          error: expect.objectContaining({ code: "Usage" }),
        }),
      ]);
    }
    const typo = await runCli([
      "guest",
      "send",
      "--json",
      "--chunk-szie",
      "4MiB",
      "/etc/hostname",
      ...NOWHERE,
    ]);
    expect((documents(typo.stdout)[0] as { error: { message: string } }).error.message).toContain(
      "Unknown option --chunk-szie",
    );
  });

  test("recv: the document goes where a success's would (stderr when the data goes to stdout)", async () => {
    const toFile = await runCli([
      "guest",
      "recv",
      "--json",
      "--out",
      "/nonexistent-ivsh-dir/x",
      "--bogus",
      ...NOWHERE,
    ]);
    expect(toFile.exitCode).toBe(2);
    expect(documents(toFile.stdout)).toEqual([
      expect.objectContaining({
        role: "recv",
        channel: "default",
        file: "/nonexistent-ivsh-dir/x",
        verified: false,
        error: expect.objectContaining({ code: "Usage" }),
      }),
    ]);
    const toStdout = await runCli(["guest", "recv", "--json", "--bogus", ...NOWHERE]);
    expect(toStdout.exitCode).toBe(2);
    expect(toStdout.stdout).toBe("");
    expect(documents(toStdout.stderr)).toEqual([
      expect.objectContaining({ role: "recv", file: "-", verified: false }),
    ]);
  });

  test("send: a FILE after -- is the document's file; a --json after -- is a file's name, not the flag", async () => {
    const run = await runCli(["guest", "send", "--json", ...NOWHERE, "--", "-x", "stray"]);
    expect(run.exitCode).toBe(2);
    expect(documents(run.stdout)).toEqual([
      expect.objectContaining({
        role: "send",
        file: "-x",
        error: expect.objectContaining({ code: "Usage" }),
      }),
    ]);
    const named = await runCli(["guest", "send", ...NOWHERE, "--", "--json", "stray"]);
    expect(named.exitCode).toBe(2);
    expect(named.stdout).toBe("");
  });

  // Found by a trial: `--channel` last gave "channel":"", as if an empty channel had been asked for.
  test("a flag given no value is named in the error, and its field is null, not empty or a default", async () => {
    const send = await runCli(["guest", "send", "--json", "/etc/hostname", ...NOWHERE, "--channel"]);
    expect(send.exitCode).toBe(2);
    expect(documents(send.stdout)).toEqual([
      expect.objectContaining({
        role: "send",
        channel: null,
        file: "/etc/hostname",
        error: expect.objectContaining({ code: "Usage", flag: "--channel" }),
      }),
    ]);
    // A flag after it is one, not the value it lacked: the document is still written.
    const followed = await runCli(["guest", "send", ...NOWHERE, "--channel", "--json", "/etc/hostname"]);
    expect(documents(followed.stdout)).toEqual([
      expect.objectContaining({ channel: null, error: expect.objectContaining({ flag: "--channel" }) }),
    ]);
    const recv = await runCli(["guest", "recv", "--json", ...NOWHERE, "--out"]);
    expect(recv.exitCode).toBe(2);
    expect(documents(recv.stderr)).toEqual([
      expect.objectContaining({
        role: "recv",
        channel: "default",
        file: null,
        error: expect.objectContaining({ flag: "--out" }),
      }),
    ]);
    const status = await runCli(["status", "--json", ...NOWHERE, "--limit"]);
    expect(documents(status.stdout)).toEqual([
      { error: { code: "Usage", message: "--limit needs a value: --limit=N", flag: "--limit" } },
    ]);
  });

  test("status: an unknown flag is a JSON error too", async () => {
    const run = await runCli(["status", "--json", "--bogus", ...NOWHERE]);
    expect(run.exitCode).toBe(2);
    expect(documents(run.stdout)).toEqual([{ error: expect.objectContaining({ code: "Usage" }) }]);
  });

  test("one document, not two, for a value the command refuses; none without --json", async () => {
    const refused = await runCli(["guest", "send", "--json", "--depth", "0", "/etc/hostname", ...NOWHERE]);
    expect(refused.exitCode).toBe(2);
    expect(documents(refused.stdout)).toHaveLength(1);
    const plain = await runCli(["guest", "send", "--chanel", "c", "/etc/hostname", ...NOWHERE]);
    expect(plain.exitCode).toBe(2);
    expect(plain.stdout).toBe("");
  });
});

/**
 * An IVSH_ variable set to the empty string is unset, every one of them (as the shell's ${NAME:-default}
 * and the XDG and NO_COLOR conventions read an empty one; a unit file's `Environment=NAME=` sets one so),
 * and the man page says so. Found by a trial, which met `IVSH_SOCKET=` taken as unset without a word of
 * it anywhere; IVSH_GUEST_BINARY= was the one exception, taken as a binary named "".
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { manPage } from "../scripts/man.ts";
import { REPO } from "./helpers/paths.ts";
import { runCli } from "./helpers/processes.ts";
import { testUnless, toolMissing } from "./helpers/tools.ts";

test("the man page's ENVIRONMENT says an empty variable is unset", async () => {
  const page = await manPage();
  const environment = page.slice(page.indexOf(".SH ENVIRONMENT"), page.indexOf(".SH EXIT STATUS"));
  expect(environment).toContain("set to the empty string is taken as unset");
});

test("IVSH_SOCKET= and IVSH_LOG_LEVEL= are unset: IVSH_CONNECT is where the arbiter is, no warning", async () => {
  const result = await runCli(["status"], {
    IVSH_SOCKET: "",
    IVSH_REGION: "",
    IVSH_LOG_LEVEL: "",
    IVSH_CONNECT: "127.0.0.1:1",
  });
  expect(result.exitCode).toBe(1);
  expect(result.stderr).toContain("127.0.0.1:1");
  expect(result.stderr).not.toContain("WARN");
});

testUnless(
  toolMissing("qemu-system-x86_64"),
  "IVSH_GUEST_BINARY= is unset: bench --vm puts dist/ivsh in the guest, as launch.sh does",
  async () => {
    const script =
      `import { checkVmPrerequisites } from ${JSON.stringify(join(REPO, "src/bench/vm-launch.ts"))};\n` +
      "try { console.log(checkVmPrerequisites().binary); } catch (error) { console.log(error.message); }\n";
    const run = Bun.spawnSync([process.execPath, "-e", script], {
      env: { ...process.env, IVSH_GUEST_BINARY: "" },
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(run.exitCode, run.stderr.toString()).toBe(0);
    // Before: "the guest binary  does not exist (run `npm run build`)".
    expect(run.stdout.toString()).toContain(join(REPO, "dist/ivsh"));
  },
  30_000,
);

/**
 * What `ivsh host` finds at its --socket path before it listens (src/host/listener.ts): each refusal names
 * what is in the way, and a start that loses the path leaves no socket file of its own behind.
 */
import { afterEach, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { isIvshError } from "../src/errors.ts";
import { checkSocketPath, clearStaleSocket, listenUnix } from "../src/host/listener.ts";
import { NOBODY, notRoot, runAsNobody } from "./helpers/as-nobody.ts";
import { REPO } from "./helpers/paths.ts";
import { eventually } from "./helpers/processes.ts";
import { testUnless, testWithTool, toolMissing } from "./helpers/tools.ts";

let dir: string | undefined;
let holder: Subprocess | undefined;

afterEach(async () => {
  holder?.kill("SIGKILL");
  await holder?.exited;
  holder = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function makeDir(): string {
  dir = mkdtempSync("/tmp/ivsh-listener-stale-");
  return dir;
}

/** The library's error: code and message (the CLI only prints it). */
async function refusal(run: () => unknown): Promise<{ code: string; message: string }> {
  try {
    await run();
  } catch (error) {
    return { code: isIvshError(error) ? error.code : "not ours", message: String(error) };
  }
  throw new Error("it was not refused");
}

/** A socket file whose process was killed: nobody listens on it any more. */
async function deadSocket(path: string): Promise<void> {
  const script = `Bun.listen({ unix: ${JSON.stringify(path)}, socket: { data() {} } });`;
  const proc = Bun.spawn([process.execPath, "-e", script], { stdout: "ignore", stderr: "inherit" });
  holder = proc;
  await eventually(async () => existsSync(path), 15_000, "the socket file");
  proc.kill("SIGKILL");
  await proc.exited;
  holder = undefined;
}

test("a start that finds its path taken as it links its socket leaves no private socket file beside it", async () => {
  const path = join(makeDir(), "arbiter.sock");
  // Another start's socket appeared after the path was found free (two starts at once): the link fails.
  writeFileSync(path, "");
  const refused = await refusal(() => listenUnix(path, { data() {} }));
  expect(refused.code).toBe("ArbiterRunning");
  expect(refused.message).toContain("a socket appeared there after this start found the path free");
  expect(readdirSync(dir!)).toEqual(["arbiter.sock"]);
});

test("a symbolic link at --socket is refused as a link, naming where it points", async () => {
  const target = join(makeDir(), "elsewhere.sock");
  await deadSocket(target);
  const path = join(dir!, "arbiter.sock");
  symlinkSync(target, path);
  const refused = await refusal(() => clearStaleSocket(path));
  expect(refused.code).toBe("InvalidArgument");
  expect(refused.message).toContain(
    `it is a symbolic link (to ${target}): pass the path the socket is to have`,
  );
  expect(existsSync(target)).toBe(true);
});

test("--socket in a 'directory' that is a file is refused as not a directory, not as a permission", () => {
  const file = join(makeDir(), "file");
  writeFileSync(file, "");
  let thrown: unknown;
  try {
    checkSocketPath(join(file, "arbiter.sock"), ".handover");
  } catch (error) {
    thrown = error;
  }
  expect(isIvshError(thrown, "InvalidArgument")).toBe(true);
  expect(String(thrown)).toContain(`${file} is not a directory (choose another --socket)`);
});

// A stream socket bound but not listening (a start between its bind and its listen): its process is alive.
testWithTool(
  "python3",
  "a socket bound by a live process that does not listen yet is refused as one that accepts no connection",
  async () => {
    const path = join(makeDir(), "arbiter.sock");
    const script = `import socket, time\ns = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\ns.bind(${JSON.stringify(path)})\ntime.sleep(600)\n`;
    holder = Bun.spawn(["python3", "-c", script], { stdout: "ignore", stderr: "inherit" });
    await eventually(async () => existsSync(path), 15_000, "the bound socket");
    const refused = await refusal(() => clearStaleSocket(path));
    expect(refused.code).toBe("ArbiterRunning");
    expect(refused.message).toContain(
      "a running process has a socket bound there that accepts no connection",
    );
    expect(existsSync(path)).toBe(true);
  },
);

/** What clearStaleSocket says to nobody about `path`: its code and message, one JSON line. */
function refusalToNobody(path: string): { code: string; message: string } {
  const script = join(dir!, "check.ts");
  writeFileSync(
    script,
    `import { clearStaleSocket } from ${JSON.stringify(join(REPO, "src/host/listener.ts"))};\n` +
      "try { await clearStaleSocket(process.argv[2]); console.log(JSON.stringify({ code: 'none', message: '' })); }\n" +
      "catch (error) { console.log(JSON.stringify({ code: error.code, message: String(error) })); }\n",
  );
  return JSON.parse(runAsNobody(script, [path]));
}

testUnless(
  notRoot ?? toolMissing("setpriv"),
  "another user's socket this user may not connect to: PermissionDenied, and left alone",
  async () => {
    makeDir();
    chmodSync(dir!, 0o755);
    const path = join(dir!, "arbiter.sock");
    await deadSocket(path);
    chmodSync(path, 0o700);
    const refused = refusalToNobody(path);
    expect(refused.code).toBe("PermissionDenied");
    expect(refused.message).toContain("this user may not connect to it (EACCES)");
    expect(existsSync(path)).toBe(true);
  },
);

testUnless(
  notRoot ?? toolMissing("setpriv"),
  "another user's dead socket in a sticky directory: PermissionDenied naming its owner, and left alone",
  async () => {
    makeDir();
    chmodSync(dir!, 0o1777);
    const path = join(dir!, "arbiter.sock");
    await deadSocket(path);
    chmodSync(path, 0o777);
    const refused = refusalToNobody(path);
    expect(refused.code).toBe("PermissionDenied");
    expect(refused.message).toContain("the dead arbiter's socket there belongs to root");
    expect(refused.message).toContain(`may not remove it from ${dir}`);
    expect(existsSync(path)).toBe(true);
    // Its own dead socket there nobody may remove: no refusal.
    const own = join(dir!, "own.sock");
    await deadSocket(own);
    chownSync(own, NOBODY, NOBODY);
    expect(refusalToNobody(own).code).toBe("none");
    expect(existsSync(own)).toBe(false);
  },
);

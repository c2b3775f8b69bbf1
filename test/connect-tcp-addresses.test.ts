/**
 * A guest's --connect HOST:PORT whose name has several addresses (localhost: ::1 and 127.0.0.1, the
 * order most systems' /etc/hosts and getaddrinfo give) reaching an arbiter that answers on only one of
 * them (a guestfwd or listener on 127.0.0.1). Bun.connect tried each address in turn; the guest's own
 * non-blocking connect (src/guest/tcp-open.ts) tried only the first, so `--connect localhost:PORT` said
 * nothing listens there (ECONNREFUSED on ::1). Now each address is tried in turn, as before. An address
 * that does not answer at all (its SYN dropped: a full accept queue, a firewall) does not hold up the
 * next: Bun.connect got through on 127.0.0.1 at once; trying the next only once the first had timed out
 * left no time for it, and the guest said the arbiter did not answer.
 * When every address fails, a refusal (nothing listens there) is reported over an address that could not
 * even be tried (EADDRNOTAVAIL: IPv6 off), as Bun.connect did.
 * The name's addresses are set by a private /etc/hosts, bind-mounted in a mount namespace of the
 * command's own (unshare -m), so only root can run it.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { closeSync, constants, openSync, readSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { errnoOf } from "../src/ffi/errno.ts";
import { setNonBlocking } from "../src/ffi/index.ts";
import { type FakeGuestfwd, fakeGuestfwd } from "./helpers/guestfwd.ts";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, EventStream, exitOrKill } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { cannotMount } from "./helpers/small-fs.ts";
import { testUnless, toolMissing } from "./helpers/tools.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
let forward: FakeGuestfwd;

beforeAll(async () => {
  paths = testPaths("tcp-addresses");
  arbiter = await ArbiterProcess.start(paths);
  forward = fakeGuestfwd("hosts-vm", paths.socket);
});
afterAll(async () => {
  forward?.stop();
  await arbiter?.stop();
  paths?.cleanup();
});

/**
 * `ivsh status --connect localhost:PORT` where /etc/hosts says localhost is ::1, then 127.0.0.1: its code
 * and output. `ownNetwork`: in a network namespace of its own, IPv6 off on its loopback (nothing listens),
 * names looked up in /etc/hosts alone; `name` instead of localhost.
 */
async function statusViaLocalhost(ownNetwork = false, name = "localhost") {
  const hosts = join(paths.dir, "hosts");
  writeFileSync(hosts, "::1 localhost\n127.0.0.1 localhost\n");
  // Names looked up in that file alone: no DNS server is asked (none answers in a network of its own).
  const nsswitch = join(paths.dir, "nsswitch.conf");
  writeFileSync(nsswitch, "hosts: files\n");
  const command = tracked(
    Bun.spawn(
      [
        "unshare",
        ownNetwork ? "-mn" : "-m",
        "sh",
        "-c",
        `${ownNetwork ? 'ip link set lo up && sysctl -qw net.ipv6.conf.lo.disable_ipv6=1 && mount --bind "$5" /etc/nsswitch.conf && ' : ""}` +
          'mount --bind "$1" /etc/hosts && exec "$2" "$3" status --connect "$4"',
        "sh",
        hosts,
        process.execPath,
        CLI,
        `${name}:${forward.port}`,
        nsswitch,
      ],
      { stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } },
    ),
  );
  const stdout = new Response(command.stdout).text();
  const stderr = new Response(command.stderr).text();
  const code = await exitOrKill(command, 30_000);
  return { code, stderr: await stderr, stdout: await stdout };
}

testUnless(
  cannotMount ?? toolMissing("unshare"),
  "--connect localhost:PORT reaches an arbiter on 127.0.0.1 when localhost is ::1 first",
  async () => {
    const { code, stderr, stdout } = await statusViaLocalhost();
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    expect(stdout).toContain(`arbiter pid ${arbiter.pid}`);
  },
  60_000,
);

/** Listens on [::1]:PORT with a full accept queue, never accepting: a SYN to it goes unanswered. */
const SILENT_V6 = `
import json, socket, sys
port = int(sys.argv[1])
server = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
server.bind(("::1", port))
server.listen(0)
held = []
for _ in range(3):
    peer = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    peer.setblocking(False)
    try:
        peer.connect(("::1", port))
    except BlockingIOError:
        pass
    held.append(peer)
print(json.dumps({"event": "full"}), flush=True)
sys.stdin.read()
`;

testUnless(
  cannotMount ?? toolMissing("unshare") ?? toolMissing("python3"),
  "--connect localhost:PORT reaches an arbiter on 127.0.0.1 while ::1 leaves its SYN unanswered",
  async () => {
    const silent = tracked(
      Bun.spawn(["python3", "-c", SILENT_V6, String(forward.port)], {
        stdin: "pipe",
        stdout: "pipe",
        stderr: "inherit",
      }),
    );
    try {
      await new EventStream(silent.stdout).next("full");
      const { code, stderr, stdout } = await statusViaLocalhost();
      expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
      expect(stdout).toContain(`arbiter pid ${arbiter.pid}`);
    } finally {
      silent.kill();
      await silent.exited;
    }
  },
  60_000,
);

// With IPv6 off, getaddrinfo puts 127.0.0.1 first and ::1, which cannot be reached (EADDRNOTAVAIL), last.
// Bun.connect said ECONNREFUSED; the last address's error said "the system said EADDRNOTAVAIL".
testUnless(
  cannotMount ?? toolMissing("unshare") ?? toolMissing("ip") ?? toolMissing("sysctl"),
  "--connect localhost:PORT with nothing listening says so, whichever address failed last",
  async () => {
    const { code, stderr } = await statusViaLocalhost(true);
    expect(code).toBe(1);
    expect(stderr).toContain(`at localhost:${forward.port} since nothing listens on it (ECONNREFUSED)`);
  },
  60_000,
);

// A name with no address at all: the lookup's code alone, "the system said ENOTFOUND", said nothing of why.
testUnless(
  cannotMount ?? toolMissing("unshare") ?? toolMissing("ip") ?? toolMissing("sysctl"),
  "--connect NAME:PORT with a name that has no address says so in words",
  async () => {
    const { code, stderr } = await statusViaLocalhost(true, "arbiter.example");
    expect(code).toBe(1);
    expect(stderr).toContain(
      `Failed to connect to the arbiter at arbiter.example:${forward.port} since no address is known for its name (ENOTFOUND)`,
    );
  },
  60_000,
);

/**
 * A DNS server on 127.0.0.1:53 that never answers: a name's lookup hangs. It makes the file argv[1] once
 * it listens, says each query it is sent, and ends when its parent (the command, which sh became) has.
 */
const MUTE_DNS = `
import json, os, signal, socket, sys
signal.alarm(300)
parent = os.getppid()
server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
server.bind(("127.0.0.1", 53))
server.settimeout(0.5)
open(sys.argv[1], "w").close()
while os.getppid() == parent:
    try:
        server.recvfrom(512)
        print(json.dumps({"event": "query"}), flush=True)
    except socket.timeout:
        pass
`;

/**
 * `ivsh status --connect arbiter.example:4567` in a network of its own whose one DNS server, MUTE_DNS,
 * never answers: glibc's longest tries (30 s, 5 of them) keep its lookup going for minutes. It starts once
 * the server listens (a query sent before is refused at once: EAI_AGAIN).
 */
function statusUnderMuteDns<Err extends "pipe" | number = "pipe">(stderr = "pipe" as Err) {
  const resolv = join(paths.dir, "resolv.conf");
  writeFileSync(resolv, "nameserver 127.0.0.1\noptions timeout:30 attempts:5\n");
  const nsswitch = join(paths.dir, "nsswitch-dns.conf");
  writeFileSync(nsswitch, "hosts: dns\n");
  const listening = join(paths.dir, "dns-listening");
  rmSync(listening, { force: true });
  return tracked(
    Bun.spawn(
      [
        "unshare",
        "-mn",
        "sh",
        "-c",
        'ip link set lo up && mount --bind "$1" /etc/resolv.conf && mount --bind "$2" /etc/nsswitch.conf && ' +
          '{ python3 -c "$3" "$6" </dev/null 2>/dev/null & } && ' +
          'tries=0; until [ -e "$6" ] || [ $tries -ge 600 ]; do sleep 0.05; tries=$((tries + 1)); done; ' +
          'exec "$4" "$5" status --connect arbiter.example:4567',
        "sh",
        resolv,
        nsswitch,
        MUTE_DNS,
        process.execPath,
        CLI,
        listening,
      ],
      { stdout: "pipe", stderr, env: { ...process.env, NO_COLOR: "1" } },
    ),
  );
}

// A name whose lookup hangs (its DNS server does not answer): the lookup looked at neither the signal nor
// the connect's timeout, so Ctrl-C went unheeded for the lookup's own ~10 s, and the command then failed
// as unreachable (exit 1) instead of saying it was interrupted. Then it said so, but the process stayed
// until the lookup, which cannot be cancelled, ended (here minutes; the bound below is far less).
testUnless(
  cannotMount ?? toolMissing("unshare") ?? toolMissing("ip") ?? toolMissing("python3"),
  "--connect NAME:PORT interrupted while its name's lookup hangs says it was interrupted and exits",
  async () => {
    const command = statusUnderMuteDns();
    const stderr = new Response(command.stderr).text();
    // Interrupted once its query has come: its lookup under way, its signal handler long installed. A
    // fixed sleep let a loaded machine fail the lookup, or the connect time out, first.
    await new EventStream(command.stdout).next("query");
    command.kill("SIGINT");
    const code = await exitOrKill(command, 30_000);
    expect({ code, stderr: await stderr }).toEqual({
      code: 130,
      stderr: expect.stringContaining("interrupted by SIGINT"),
    });
  },
  60_000,
);

// The connect's timeout (status's whole wait, 10 s) ends the wait as well: the command said the arbiter
// did not answer, and its process stayed until the lookup ended.
testUnless(
  cannotMount ?? toolMissing("unshare") ?? toolMissing("ip") ?? toolMissing("python3"),
  "--connect NAME:PORT whose name's lookup hangs fails at the connect's timeout and exits",
  async () => {
    const command = statusUnderMuteDns();
    const stderr = new Response(command.stderr).text();
    const code = await exitOrKill(command, 30_000);
    expect({ code, stderr: await stderr }).toEqual({
      code: 1,
      stderr: expect.stringContaining("at arbiter.example:4567 since there was no answer within 10000 ms"),
    });
  },
  60_000,
);

/**
 * A FIFO whose reader and writer this process opens without waiting (O_NONBLOCK), the pipe filled: the
 * writer, as a command's stderr, takes no byte until the reader drains it (`drain`). Bun.spawn makes the
 * descriptor it is given blocking (for the child and for us: one open file); `nonBlocking` makes it
 * non-blocking again, once the child has started.
 */
function fullPipe() {
  const fifo = join(paths.dir, "stderr.fifo");
  rmSync(fifo, { force: true });
  expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
  const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const writer = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
  let filled = 0;
  for (const block = Buffer.alloc(4096, "."); ; filled += block.length)
    try {
      writeSync(writer, block);
    } catch (error) {
      if (errnoOf(error) === "EAGAIN") break;
      throw error;
    }
  const open = new Set([reader, writer]);
  const close = (fd: number) => open.delete(fd) && closeSync(fd);
  /** Non-blocking again, and ours closed: the child's is then the pipe's only writer. */
  const nonBlocking = () => {
    setNonBlocking(writer, true, "the test's stderr pipe");
    close(writer);
  };
  /** All that is written after the filling, read until every writer is gone once `until` has settled. */
  const drain = async (until: Promise<unknown>) => {
    const chunks: Buffer[] = [];
    let ended = false;
    void until.then(() => (ended = true));
    for (const buffer = Buffer.alloc(65536); ; ) {
      let got = -1;
      try {
        got = readSync(reader, buffer);
      } catch (error) {
        if (errnoOf(error) !== "EAGAIN") throw error;
      }
      if (got === 0 && ended) break;
      if (got > 0) chunks.push(Buffer.from(buffer.subarray(0, got)));
      else await Bun.sleep(5);
    }
    close(reader);
    return Buffer.concat(chunks).subarray(filled).toString();
  };
  /** Whatever is still open (a test that failed before its end). */
  const closeAll = () => {
    for (const fd of open) close(fd);
  };
  return { writer, nonBlocking, drain, closeAll };
}

// Its error said on a stderr that took no more then (a pipe full, O_NONBLOCK: EAGAIN) is handed to the
// stream, which writes it once the pipe is drained: the exit that does not wait for the lookup waits for
// that (Bun's process.exit drops what the stream still holds), however long the reader takes.
testUnless(
  cannotMount ??
    toolMissing("unshare") ??
    toolMissing("ip") ??
    toolMissing("python3") ??
    toolMissing("mkfifo"),
  "--connect NAME:PORT interrupted while its name's lookup hangs says so on a stderr that takes it only later",
  async () => {
    const { writer, nonBlocking, drain, closeAll } = fullPipe();
    try {
      const command = statusUnderMuteDns(writer);
      await new EventStream(command.stdout).next("query");
      nonBlocking();
      command.kill("SIGINT");
      // Drained once the command has exited (its message lost, if it was not waited for), or has had long
      // to: whether the message came before or after that, the whole of it must be there.
      await Promise.race([command.exited, Bun.sleep(3000)]);
      const stderr = drain(command.exited);
      const code = await exitOrKill(command, 30_000);
      expect({ code, stderr: await stderr }).toEqual({
        code: 130,
        stderr: expect.stringContaining("interrupted by SIGINT"),
      });
    } finally {
      closeAll();
    }
  },
  60_000,
);

/**
 * The command line pointed where no ivsh arbiter answers (another protocol's server, an echo service, an
 * older arbiter, a regular file, nothing at all): each says what it found there and what to do, not that a
 * region is missing.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { failure } from "../src/errors.ts";
import { encodeErrorFrame, FrameDecoder } from "../src/protocol/codec.ts";
import { messages } from "../src/protocol/messages.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { runCli } from "./helpers/processes.ts";
import { testUnless } from "./helpers/tools.ts";

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("cli-no-arbiter");
});
afterAll(() => paths?.cleanup());

describe("an address where no arbiter listens", () => {
  /** A TCP server that speaks another protocol: `greeting` on connect, `answer` to what it is sent. */
  function otherServer(greeting: string | undefined, answer: string | undefined) {
    return Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open: (socket) => {
          if (greeting) socket.write(greeting);
        },
        data: (socket) => {
          if (answer) socket.write(answer);
        },
      },
    });
  }

  for (const [name, greeting, answer, sent] of [
    [
      "an SSH server",
      "SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n",
      undefined,
      "SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13",
    ],
    [
      "an HTTP proxy",
      undefined,
      "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 400 Bad Request…",
    ],
  ] as const)
    test(`status --connect to ${name}: the peer is not an ivsh arbiter, with what it sent`, async () => {
      const server = otherServer(greeting, answer);
      try {
        const result = await runCli(["status", "--connect", `127.0.0.1:${server.port}`]);
        expect(result.exitCode).toBe(1);
        expect(result.stderr).toContain(
          `the peer there is not an ivsh arbiter (it sent "${sent}"): check the address`,
        );
        expect(result.stderr).not.toContain("length field");
      } finally {
        server.stop(true);
      }
    });

  // In a VM the default address is QEMU's guestfwd, whose bridge relays to the host socket it was given: a
  // VM started with another program's socket there (a VM trial: socat EXEC:cat) was told to check its own
  // address, which was right, and not the bridge's --socket, which was wrong.
  test("status --connect to something else: the bridge's --socket on the host is named too", async () => {
    const server = otherServer("SSH-2.0-OpenSSH_9.6p1\r\n", undefined);
    try {
      const result = await runCli(["status", "--connect", `127.0.0.1:${server.port}`]);
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toContain("the peer there is not an ivsh arbiter");
      expect(result.stderr).toContain(
        "the --socket the host's `ivsh bridge --vm NAME --socket SOCKET` was given",
      );
    } finally {
      server.stop(true);
    }
  });

  test("status --socket to something else: only --socket is named", async () => {
    const socket = join(paths.dir, "banner.sock");
    const banner = Bun.listen({
      unix: socket,
      socket: { open: (peer) => void peer.write("SSH-2.0-OpenSSH_9.6p1\r\n"), data: () => undefined },
    });
    try {
      const result = await runCli(["status", "--socket", socket]);
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toContain(
        'the peer there is not an ivsh arbiter (it sent "SSH-2.0-OpenSSH_9.6p1"): check --socket',
      );
      expect(result.stderr).not.toContain("bridge");
    } finally {
      banner.stop(true);
    }
  });

  test("status --socket to an echo service (socat EXEC:cat): not an arbiter at once, not 'did not answer'", async () => {
    const socket = join(paths.dir, "echo.sock");
    const echo = Bun.listen({ unix: socket, socket: { data: (peer, bytes) => void peer.write(bytes) } });
    try {
      const result = await runCli(["status", "--socket", socket]);
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toContain(`${socket} since the peer there is not an ivsh arbiter (it sent "`);
      expect(result.stderr).not.toContain("did not answer");
    } finally {
      echo.stop(true);
    }
  });

  test("status against an arbiter older than session-less status, with its journal full: the hello's refusal is reported", async () => {
    // What such an arbiter did: refuse the hello (NoSpace), then answer a status sent without a session
    // with ProtocolState and close the connection.
    const socket = join(paths.dir, "old-arbiter.sock");
    const full = failure(
      "NoSpace",
      "record a change in the state journal",
      "its file system is full (ENOSPC)",
    );
    const decoder = new FrameDecoder();
    const asked: number[] = [];
    const old = Bun.listen({
      unix: socket,
      socket: {
        data: (peer, bytes) => {
          decoder.push(bytes);
          for (let frame = decoder.next(); frame; frame = decoder.next()) {
            asked.push(frame.op);
            if (frame.op === messages.hello.op) peer.write(encodeErrorFrame(frame.op, frame.requestId, full));
            else {
              const early = failure("ProtocolState", "handle status", "the first request must be hello");
              peer.write(encodeErrorFrame(frame.op, frame.requestId, early));
              peer.end();
            }
          }
        },
      },
    });
    try {
      const result = await runCli(["status", "--socket", socket]);
      expect(asked).toEqual([messages.hello.op, messages.status.op]);
      expect(result.exitCode).toBe(1);
      // Before: only the arbiter's words, "Failed to record a change in the state journal since ...".
      expect(result.stderr).toContain(
        `Failed to connect to the arbiter at ${socket} since it could not record the session in its state journal: its file system is full`,
      );
      expect(result.stderr).not.toContain("ProtocolState");
      expect(result.stderr).not.toContain("must be hello");
    } finally {
      old.stop(true);
    }
  });

  /** An arbiter speaking protocol `version`: it refuses the hello in its own words and closes the connection. */
  function arbiterOfVersion(socket: string, version: number) {
    const refusal = failure(
      "VersionMismatch",
      "greet the client",
      `it speaks protocol version 3 and this arbiter speaks ${version} (use the same ivsh release on both sides)`,
    );
    const decoder = new FrameDecoder();
    return Bun.listen({
      unix: socket,
      socket: {
        data: (peer, bytes) => {
          decoder.push(bytes);
          for (let frame = decoder.next(); frame; frame = decoder.next()) {
            peer.write(encodeErrorFrame(frame.op, frame.requestId, refusal));
            peer.end();
          }
        },
      },
    });
  }

  // An older arbiter's words (protocol 1, before arbiterPid) call this client "the client" and name no arbiter.
  for (const [version, which] of [
    [1, "(the arbiter runs an older ivsh): upgrade it and restart it, or run its release here"],
    [4, "(the arbiter runs a newer ivsh): upgrade this one, or run the arbiter's release"],
  ] as const)
    test(`an arbiter of protocol ${version}: status and recv --socket name it and which side to upgrade`, async () => {
      const socket = join(paths.dir, `arbiter-${version}.sock`);
      const arbiter = arbiterOfVersion(socket, version);
      const wanted = `Failed to connect to the arbiter at ${socket} since it speaks protocol version ${version} and this ivsh speaks 3 ${which}`;
      try {
        const status = await runCli(["status", "--socket", socket]);
        expect(status.exitCode).toBe(1);
        // Before: "Failed to greet the client since it speaks protocol version 3 and this arbiter speaks 1".
        expect(status.stderr).toContain(wanted);
        // Before: no region file /dev/shm/ivsh, start `ivsh host` (an arbiter was there, of another release).
        const recv = await runCli(["guest", "recv", "--socket", socket, "--timeout", "1s"], {
          IVSH_REGION: "",
        });
        expect(recv.exitCode).toBe(1);
        expect(recv.stderr).toContain(wanted);
        expect(recv.stderr).not.toContain("no region file");
      } finally {
        arbiter.stop(true);
      }
    });

  test("status --socket naming a regular file: a file that is not a socket, as ivsh host says", async () => {
    const file = join(paths.dir, "regular-file");
    writeFileSync(file, "not a socket\n");
    const result = await runCli(["status", "--socket", file]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain(`${file} since it is a file that is not a socket`);
    expect(result.stderr).not.toContain("nothing listens");
  });
});

test("guest recv --socket where no arbiter listens, no --region: the missing arbiter is named, not a missing region", async () => {
  const socket = join(paths.dir, "nobody-here.sock");
  const result = await runCli(["guest", "recv", "--socket", socket, "--timeout", "1s"]);
  expect(result.exitCode).toBe(1);
  expect(result.stderr).toContain(
    `Failed to connect to the arbiter at ${socket} since no socket exists there (ENOENT)`,
  );
  expect(result.stderr).not.toContain("no region file");
});

testUnless(
  existsSync("/tmp/ivsh.sock") ? "an arbiter on this machine serves the default socket" : undefined,
  "status with no device and no --socket: the default host socket's absence also says what a VM lacks",
  async () => {
    const result = await runCli(["status", "--sysfs-root", paths.dir], { IVSH_SOCKET: "", IVSH_CONNECT: "" });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain("at /tmp/ivsh.sock since no socket exists there (ENOENT)");
    expect(result.stderr).toContain(
      "in a VM: no IVSHMEM device (PCI 1af4:1110) was found, start the VM with -device ivshmem-plain",
    );
  },
);

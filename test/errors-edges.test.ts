/**
 * The error helpers every part relies on (src/errors.ts), at their edges: a name cut at 80 code points
 * and not before, the library's option names left out of every place a command prints them (the longer
 * form first), a reason quoted whole when it says "since" itself, an abort's reason told in words, and a
 * file system error reaching the CLI said with its call, path and errno, while other errors are not
 * dressed as one.
 */

import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import {
  abortedError,
  describeSystemError,
  ErrorCode,
  type ErrorCodeName,
  type ErrorTrait,
  failure,
  forCommands,
  hasTrait,
  IvshError,
  isIvshError,
  libraryForm,
  reasonOf,
  shownName,
  throwIfAborted,
} from "../src/errors.ts";

describe("shownName", () => {
  test("a name of exactly 80 code points is shown whole, also when they take 160 UTF-16 units", () => {
    expect(shownName("a".repeat(80))).toBe("a".repeat(80));
    expect(shownName("😀".repeat(80))).toBe("😀".repeat(80));
  });

  test("one of 81 is cut to 77 and an ellipsis, never inside a surrogate pair", () => {
    expect(shownName("a".repeat(81))).toBe(`${"a".repeat(77)}...`);
    expect(shownName("😀".repeat(81))).toBe(`${"😀".repeat(77)}...`);
  });
});

describe("forCommands", () => {
  test("every occurrence of a library form is left out of what a command prints", () => {
    const form = libraryForm(" (edges: connect({ edge }))");
    expect(forCommands(`pass --edge${form}, or --other${form}.`)).toBe("pass --edge, or --other.");
  });

  test("a form inside a longer one, made first, leaves no comma of the longer behind", () => {
    const shorter = libraryForm(" or edgeOpen({ socket })");
    const longer = libraryForm(", or edgeOpen({ socket })");
    expect(forCommands(`pass --socket${longer}.`)).toBe("pass --socket.");
    expect(forCommands(`pass --socket${shorter}.`)).toBe("pass --socket.");
  });

  test("a form made again is still left out once", () => {
    const again = () => libraryForm(" (edges: made twice)");
    again();
    expect(forCommands(`--flag${again()}`)).toBe("--flag");
  });
});

describe("reasonOf", () => {
  test("a reason that itself says 'since' is quoted whole", () => {
    const error = failure("Timeout", "wait for the peer", "it has been silent since the arbiter restarted");
    expect(reasonOf(error)).toBe("it has been silent since the arbiter restarted");
  });

  test("a message that does not begin 'Failed to' is quoted as it is", () => {
    const relayed = new Error("the peer said: Failed to open x since it is gone");
    expect(reasonOf(relayed)).toBe("the peer said: Failed to open x since it is gone");
  });
});

describe("abortedError and throwIfAborted", () => {
  const aborted = (reason?: unknown) => {
    const controller = new AbortController();
    controller.abort(reason);
    return controller.signal;
  };

  test("a signal not aborted, or none, throws nothing", () => {
    expect(() => throwIfAborted(new AbortController().signal, "wait")).not.toThrow();
    expect(() => throwIfAborted(undefined, "wait")).not.toThrow();
  });

  test("an IvshError given as the reason is what is thrown, itself", () => {
    const gone = failure("PeerGone", "receive on channel 'c'", "its sender died");
    expect(abortedError(aborted(gone), "wait")).toBe(gone);
  });

  test("abort() without a reason, and no signal at all, say 'it was aborted'", () => {
    for (const signal of [aborted(), undefined]) {
      const error = abortedError(signal, "wait for the peer");
      expect([error.code, error.message]).toEqual([
        "Interrupted",
        "Failed to wait for the peer since it was aborted",
      ]);
    }
  });

  test("an Error's message is its reason, and any other value is said as a string", () => {
    expect(abortedError(aborted(new Error("the user closed the window")), "send").message).toBe(
      "Failed to send since the user closed the window",
    );
    expect(abortedError(aborted("shutting down"), "send").message).toBe("Failed to send since shutting down");
  });

  test("AbortSignal.timeout's deadline is Timeout, not Interrupted", async () => {
    const signal = AbortSignal.timeout(1);
    await Bun.sleep(20);
    const error = abortedError(signal, "wait");
    expect([error.code, error.message]).toEqual([
      "Timeout",
      "Failed to wait since its signal's deadline passed (AbortSignal.timeout)",
    ]);
  });
});

describe("codes", () => {
  test("each code travels as its number and back; an unknown number is Internal", () => {
    for (const [name, number] of Object.entries(ErrorCode)) {
      const error = IvshError.fromWire(number, "m");
      expect([error.code, error.codeNumber]).toEqual([name as ErrorCodeName, number]);
    }
    expect(IvshError.fromWire(999, "from a newer arbiter").code).toBe("Internal");
  });

  test("isIvshError without a code takes any IvshError, and nothing else", () => {
    expect(isIvshError(failure("NotFound", "x", "y"))).toBe(true);
    expect(isIvshError(new Error("NotFound"))).toBe(false);
  });
});

describe("traits", () => {
  const holders = (trait: ErrorTrait): string[] =>
    (Object.keys(ErrorCode) as ErrorCodeName[])
      .filter((code) => hasTrait(failure(code, "x", "y"), trait))
      .sort();

  test("the codes that end a connection, and those that end a resume, are the ones docs/protocol.md names", () => {
    // Section 8: the arbiter closes the connection after these.
    expect(holders("endsConnection")).toEqual(
      ["BadFrame", "LeaseExpired", "ProtocolState", "SessionUnknown", "UnknownOp", "VersionMismatch"].sort(),
    );
    // "During reconnection, ... are final: the client stops trying."
    expect(holders("endsResume")).toEqual(
      ["LeaseExpired", "PermissionDenied", "RegionInvalid", "SessionUnknown", "VersionMismatch"].sort(),
    );
  });

  test("a release met by a session gone, an arbiter away or a hold already given up is harmless; an arbiter away is retried", () => {
    // Else close() after the arbiter went away threw instead of leaving the ring to the session's end.
    expect(holders("harmlessOnRelease")).toEqual(
      ["ArbiterUnreachable", "ConnectionLost", "LeaseExpired", "NotHeld", "SessionUnknown"].sort(),
    );
    // Else a client connecting while the arbiter restarts gave up at once.
    expect(holders("whileRestarting")).toEqual(["ArbiterUnreachable", "ConnectionLost"]);
    // Only an IvshError has traits: another error that carries such a code (a system error's, a foreign
    // library's) is not swallowed as harmless.
    expect(hasTrait(Object.assign(new Error("not ours"), { code: "NotHeld" }), "harmlessOnRelease")).toBe(
      false,
    );
  });

  test("the refusals a working program meets in the normal course are routine (the arbiter's log: debug only)", () => {
    expect(holders("routine")).toEqual(["AlreadyExists", "NotFound", "NotHeld", "Timeout"]);
  });
});

describe("describeSystemError", () => {
  test("a file system error: its call, its path, the reason in words and its errno", () => {
    let thrown: unknown;
    try {
      readFileSync("/nonexistent-edges/file");
    } catch (error) {
      thrown = error;
    }
    expect(describeSystemError(thrown)).toBe(
      "Failed to open /nonexistent-edges/file since no such file or directory (ENOENT)",
    );
  });

  test("a message without the errno's words says the errno alone", () => {
    const error = Object.assign(new Error("something else"), { code: "EIO", syscall: "read" });
    expect(describeSystemError(error)).toBe("Failed to read since EIO (EIO)");
  });

  test("an error that is not an errno, or names no call, is not dressed as one", () => {
    const notErrno = Object.assign(new Error("bad argument"), {
      code: "ERR_INVALID_ARG_TYPE",
      syscall: "open",
    });
    const noCall = Object.assign(new Error("ENOENT: gone"), { code: "ENOENT" });
    for (const error of [notErrno, noCall, null, "ENOENT"])
      expect(describeSystemError(error)).toBeUndefined();
  });
});

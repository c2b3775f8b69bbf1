/**
 * Every timed transfer of the benchmark is refused when its receiver found a wrong byte or not all bytes
 * arrived: the host's rows and `ivsh bench --vm`'s guest → host and host → guest rows (src/bench/vm.ts)
 * go through the same check, so a broken path cannot print a rate.
 */
import { describe, expect, test } from "bun:test";
import { checkArrived } from "../../src/bench/channel.ts";
import { expectFailure } from "../helpers/errors.ts";

const sent = (bytes: number) => ({ event: "sent", bytes });
const received = (bytes: number, wrong?: string) => ({
  event: "received",
  bytes,
  ...(wrong ? { wrong } : {}),
});

describe("checkArrived", () => {
  test("all bytes, none wrong: accepted", () => {
    expect(() => checkArrived("stream guest → host", 4096, sent(4096), received(4096))).not.toThrow();
  });

  test("a byte the receiver found wrong: DigestMismatch, naming where", () => {
    expectFailure(
      () =>
        checkArrived("stream host → guest", 4096, sent(4096), received(4096, "byte 17 is 0x00, not 0x11")),
      "DigestMismatch",
      /stream host → guest since byte 17 is 0x00, not 0x11/,
    );
  });

  test("fewer bytes arrived than were to be sent: refused with both counts", () => {
    expectFailure(
      () => checkArrived("stream guest → host", 4096, sent(4096), received(4000)),
      "Internal",
      /4096 bytes were to be sent but 4000 arrived/,
    );
  });

  test("the sender reports fewer bytes than planned: refused even when the receiver agrees with it", () => {
    expectFailure(
      () => checkArrived("stream guest → host", 4096, sent(4000), received(4000)),
      "Internal",
      /4096 bytes were to be sent but 4000 arrived/,
    );
  });
});

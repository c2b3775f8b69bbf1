/**
 * IVSH_HANDOVER_TTL_MS (src/host/handover.ts): how long a handed-over connection waits to be claimed. It is
 * a whole number of milliseconds, at least 1: 0 would close every handed-over connection at the inbox's
 * first look, before any bridge could claim it.
 */
import { afterEach, test } from "bun:test";
import { HandoverInbox } from "../src/host/handover.ts";
import { expectFailure } from "./helpers/errors.ts";

const setting = process.env.IVSH_HANDOVER_TTL_MS;
afterEach(() => {
  if (setting === undefined) delete process.env.IVSH_HANDOVER_TTL_MS;
  else process.env.IVSH_HANDOVER_TTL_MS = setting;
});

test.each(["0", "-1", "1.5", "soon"])(
  "IVSH_HANDOVER_TTL_MS=%s is refused before any socket is made",
  (value) => {
    process.env.IVSH_HANDOVER_TTL_MS = value;
    expectFailure(
      () => HandoverInbox.open("/nonexistent-ivsh-test/arbiter.sock"),
      "InvalidArgument",
      /it must be a whole number of milliseconds, at least 1/,
    );
  },
);

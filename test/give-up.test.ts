/**
 * How long a client waits for an arbiter's answer (src/guest/give-up.ts), in-process: a signal aborted
 * before the wait began ends it at once, as one aborted during it does; an answer that never comes is
 * given up after the time allowed.
 */
import { test } from "bun:test";
import { answerWithin } from "../src/guest/give-up.ts";
import { expectRejection } from "./helpers/errors.ts";

const endpoint = { unix: "/run/ivsh/scripted.sock" };
const never = () => new Promise<never>(() => {});

test("a signal aborted before the wait: Interrupted at once, not a wait for the answer or the time allowed", async () => {
  await expectRejection(
    answerWithin(endpoint, never(), 2000, AbortSignal.abort(), ["ask", "ask the arbiter for x"], "no answer"),
    "Interrupted",
    /ask the arbiter for x/,
  );
});

test("a signal aborted during the wait ends it as Interrupted; none at all waits out the time allowed", async () => {
  const controller = new AbortController();
  const waiting = answerWithin(endpoint, never(), 2000, controller.signal, ["ask", "ask for y"], "no answer");
  controller.abort();
  await expectRejection(waiting, "Interrupted", /ask for y/);
  await expectRejection(
    answerWithin(endpoint, never(), 50, undefined, ["ask", "ask for z"], "it answered nothing"),
    "ArbiterUnreachable",
    /ask the arbiter at \/run\/ivsh\/scripted.sock since it answered nothing \(its process may be stopped/,
  );
});

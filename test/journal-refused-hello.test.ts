/**
 * A hello the full journal could not record opens no session (src/host/arbiter.ts undoUnrecorded): its
 * connection is back where it was before the hello, and may say hello again once the journal has room.
 * Left "ready", that connection's next hello was refused "already said hello" and the connection closed.
 */
import { expect } from "bun:test";
import { decodeError, decodeFields, type Frame } from "../src/protocol/codec.ts";
import { FrameKind, messages, PROTOCOL_VERSION, WIRE_MAGIC } from "../src/protocol/messages.ts";
import { smallJournals } from "./helpers/full-journal.ts";
import { eventually } from "./helpers/processes.ts";
import { type RawClient, rawClient, requestFrame } from "./helpers/raw.ts";
import { cannotMount } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";

const withSmallJournal = smallJournals("journal-refused-hello");

const hello = (requestId: number) =>
  requestFrame("hello", requestId, {
    magic: WIRE_MAGIC,
    version: PROTOCOL_VERSION,
    clientName: "hello-again",
    pid: 1,
    sessionToken: "",
  });

testUnless(
  cannotMount,
  "a hello refused by the full journal may be said again on its connection once there is room",
  () =>
    withSmallJournal("small", async (journal) => {
      // Hellos on connections of their own until the journal's write of one fails: that hello was served
      // whole (its session opened, its connection ready) before its write failed, and is undone.
      const kept: RawClient[] = [];
      let raw: RawClient | undefined;
      try {
        journal.fill();
        for (let tries = 0; tries < 200 && !raw; tries++) {
          const client = await rawClient(journal.own.socket);
          kept.push(client);
          client.write(hello(1));
          const answer = await client.answer(1);
          if (answer.kind === FrameKind.error) {
            expect(decodeError(answer.body).code).toBe("JournalFull");
            raw = client;
          }
        }
        if (!raw) throw new Error("the full journal took 200 sessions");
        const again = raw;
        journal.roomBack();
        // Refused up front for up to a second after the failed write: said again until it is let through.
        let requestId = 1;
        let answer: Frame | undefined;
        await eventually(
          async () => {
            again.write(hello(++requestId));
            answer = await again.answer(requestId);
            return answer.kind !== FrameKind.error || decodeError(answer.body).code !== "JournalFull";
          },
          20_000,
          "a hello let through",
        );
        const said = answer!.kind === FrameKind.error ? String(decodeError(answer!.body)) : "a reply";
        expect(said).toBe("a reply");
        expect(decodeFields(messages.hello.reply, answer!.body, "hello").clientId).toBeGreaterThan(0);
      } finally {
        for (const client of kept) client.socket.end();
      }
    }),
  60_000,
);

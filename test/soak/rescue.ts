/**
 * A channel end whose peer died before joining waits for another, rightly: the soak gives it one (see
 * rescueAWaitingEnd), so that waiting is told apart from hanging.
 */
import { ivsh, spawnTracked, type Tracked } from "./harness.ts";
import type { SoakContext } from "./scenario.ts";

/** How soon a survivor whose peer has ended must end too before the soak gives it a new peer. */
const RESCUE_AFTER_MS = 1000;

/**
 * An end whose peer died before it joined the transfer rightly waits for another peer (a sender for a
 * receiver, a receiver for a sender), like a server for its next client. Give it one: the transfer must
 * then complete with the new peer, or the survivor must fail because its real peer had joined. Either way
 * it must end; a survivor that does neither hangs.
 */
export async function rescueAWaitingEnd(
  channel: string,
  context: SoakContext,
  files: { source: string; rescued: string },
  processes: Map<string, Tracked>,
  deadline: number,
): Promise<{ settle(deadline: number): Promise<unknown>; partner: Tracked } | undefined> {
  const sender = processes.get("sender")!;
  const receiver = processes.get("receiver")!;
  const first = await Promise.race([
    sender.proc.exited,
    receiver.proc.exited,
    Bun.sleep(deadline - performance.now()),
  ]);
  if (first === undefined || (!sender.running && !receiver.running)) return undefined;
  const waiting = sender.running ? sender : receiver;
  if (await waiting.endsWithin(RESCUE_AFTER_MS)) return undefined;
  const env = { IVSH_SOCKET: context.paths.socket, IVSH_REGION: context.paths.region };
  const onChannel = ["--channel", channel];
  const rescue =
    waiting === sender
      ? spawnTracked({
          name: "rescue-receiver",
          isIvsh: false,
          env,
          argv: ivsh("guest", "recv", "--out", files.rescued, ...onChannel),
        })
      : spawnTracked({
          name: "rescue-sender",
          isIvsh: false,
          env,
          argv: ivsh("guest", "send", files.source, ...onChannel),
        });
  processes.set(rescue.name, rescue);
  return { settle: (until) => rescue.settle(until), partner: waiting };
}

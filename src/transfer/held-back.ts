/**
 * A sender held back by the receiver of an earlier, unfinished transfer on its channel: that receiver lets
 * go at its next wait, and one that neither receives nor closes never does. Meanwhile the user is told
 * whom the sender waits for, and the wait counts against --timeout as a wait for a receiver does.
 */
/** What a peer wait is about (run.ts's WaitFor): its `peer` names the old receiver while it holds on. */
interface Awaited {
  peer: string;
}

/** The part of run.ts's Progress this uses: a line saying what the transfer waits for. */
interface WaitingLine {
  waiting?: (what: string, forPeer?: boolean) => void;
}

export function heldBackNotice(
  what: Awaited,
  channel: string,
  progress: WaitingLine,
  peerCheck: (isHere: () => boolean) => void,
): (receiver: number | undefined) => void {
  const peer = what.peer;
  return (receiver) => {
    if (receiver === undefined) {
      what.peer = peer;
      return;
    }
    peerCheck(() => false); // from here the wait limit applies; the open sets the real check once it returns
    const old = `client ${receiver}, the receiver of an earlier transfer on channel '${channel}'`;
    what.peer = `${peer} (${old}, has not let go of it: it lets go at its next receive, or when it closes)`;
    progress.waiting?.(`for ${old}, to let go of it (it does at its next receive, or when it closes)`, true);
  };
}

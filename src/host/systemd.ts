/**
 * The service manager's side of the arbiter: under systemd with Type=notify, NOTIFY_SOCKET names a
 * datagram socket, and "READY=1" sent there (once the arbiter's socket accepts connections) is what lets
 * units ordered After= it start: a VM whose QEMU connects at once finds the arbiter listening. STATUS=,
 * the Status: line of `systemctl status`, says what it serves, or what the sweep found the operator must
 * mend ("PROBLEM: ..."), as `ivsh status` does: an operator looks there first. Elsewhere nothing is sent.
 * See contrib/systemd/ivsh-host.service.
 */
import { sendDatagram } from "../ffi/fd-passing.ts";
import { log } from "../log.ts";

/** Tells the service manager `fields` (e.g. READY=1, STATUS=...), if it asked to be told. */
export function notifyServiceManager(fields: Record<string, string | number>): void {
  const socket = process.env.NOTIFY_SOCKET;
  if (!socket) return;
  // One line a field: a message of several (a bug's) would end its STATUS= at the first.
  const text = Object.entries(fields)
    .map(([name, value]) => `${name}=${Bun.stripANSI(String(value)).replaceAll("\n", " ")}`)
    .join("\n");
  try {
    sendDatagram(socket, Buffer.from(text));
  } catch (error) {
    // Not fatal: the arbiter serves either way; a Type=notify unit will time out and say why.
    log.warn(`could not notify the service manager at NOTIFY_SOCKET=${socket}: ${(error as Error).message}`);
  }
}

/** What STATUS= says while all is well ("serving ..."), and the problems it said last instead. */
const told = { serving: "", problems: "" };

/** READY=1 with what the arbiter serves: the STATUS= it goes back to once no problem is left. */
export function notifyServing(fields: Record<string, string | number> & { STATUS: string }): void {
  told.serving = fields.STATUS;
  notifyServiceManager(fields);
}

/**
 * The sweep's problems as STATUS=, when they change: its journal refusing changes first, as `ivsh status`
 * lists it, then its socket or region file removed, ... The Status: line of `systemctl status` said
 * "serving" while no new client could reach the arbiter, or while it refused every change.
 */
export function notifyProblems(problems: readonly string[]): void {
  const now = problems.join("; ");
  if (now === told.problems) return;
  told.problems = now;
  notifyServiceManager({ STATUS: now ? `PROBLEM: ${now}` : told.serving });
}

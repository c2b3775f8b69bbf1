/**
 * What to check when a TCP endpoint cannot be reached: in a guest that is the VM's bridge, which only the
 * host's QEMU command line provides, so the hint names what the VM must be started with.
 */
import { DEFAULT_GUEST_ARBITER } from "../defaults.ts";
import { libraryForm } from "../errors.ts";

/** A name that did not resolve: a guestfwd naming it (bridgeHint's advice) is refused by QEMU, which takes an address. */
const LOOKUP_CODES = new Set(["ENOTFOUND", "EAI_NONAME", "EAI_AGAIN"]);

export function tcpHint(endpoint: { hostname: string; port: number }, code: string): string {
  if (LOOKUP_CODES.has(code))
    return `a VM's bridge is reached at an address, as QEMU's guestfwd takes no name: pass --connect ${DEFAULT_GUEST_ARBITER}, or the address:port its guestfwd gives${libraryForm(", or connect({ tcp })")}; on a host, check the name`;
  return bridgeHint(endpoint);
}

/**
 * A guest reaches the arbiter only through the host command its VM's NIC runs per connection: name what
 * the VM must be started with, since "the bridge" means nothing to someone who has not set one up.
 */
function bridgeHint(endpoint: { hostname: string; port: number }): string {
  const where = `${endpoint.hostname}:${endpoint.port}`;
  return (
    `the VM needs a QEMU user-mode NIC with guestfwd=tcp:${where}-cmd:... running \`ivsh bridge --vm NAME ` +
    `--socket SOCKET\` on the host (scripts/qemu/launch.sh in ivsh's source repository adds it); or pass --connect${libraryForm(", or connect({ tcp })")}`
  );
}

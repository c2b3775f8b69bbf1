/**
 * The VM name on a bridge's command line (`ivsh bridge --vm NAME`, QEMU's guestfwd) is all the arbiter
 * knows of a guest's VM: two VMs given the same name are one VM to it. Decided (session ends35): said, not
 * refused. The arbiter cannot tell them apart (a bridge vouches for a name, nothing more; a VM restarted
 * under its name must keep it), so the clash is documented where --vm is (bridge --help, README,
 * docs/protocol.md): their clients share the one VM's --vm-quota, --vm-slots and --vm-connections, and
 * `ivsh status` lists them as one VM. This test holds the documented behaviour in place.
 */
import { expect, test } from "bun:test";
import { type Client, connect } from "../src/guest/index.ts";
import { expectRejection } from "./helpers/errors.ts";
import { socketGuestfwd } from "./helpers/guestfwd.ts";
import { testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, runCli } from "./helpers/processes.ts";

test("two VMs given one --vm name are one VM to the arbiter: one status line, one --vm-quota between them", async () => {
  const paths = testPaths("vm-twins");
  const arbiter = await ArbiterProcess.start(paths, { extra: ["--vm-quota", "1MiB"] });
  // Two guestfwds, as two QEMUs whose command lines both say --vm twin.
  const first = socketGuestfwd("twin", paths.socket);
  const second = socketGuestfwd("twin", paths.socket);
  const clients: Client[] = [];
  const inVm = async (port: number, name: string) => {
    const client = await connect({ tcp: `127.0.0.1:${port}`, region: paths.region, name });
    clients.push(client);
    return client;
  };
  try {
    const a = await inVm(first.port, "first-vm");
    const b = await inVm(second.port, "second-vm");
    expect([a.vm, b.vm]).toEqual(["twin", "twin"]);
    await a.alloc(768 << 10, { name: "first-vm-holds" });
    // The second VM holds nothing, yet the first's segment counts against the quota they share.
    await expectRejection(
      b.alloc(512 << 10),
      "QuotaExceeded",
      /VM 'twin' already has 12 blocks \(768\.0 KiB\) of its quota of 16 blocks \(1\.00 MiB\)/,
    );
    const text = (await runCli(["status", "--socket", paths.socket])).stdout;
    expect(text).toMatch(/twin: 2 clients/);
  } finally {
    for (const client of clients) await client.close();
    first.stop();
    second.stop();
    await arbiter.stop();
    paths.cleanup();
  }
}, 60_000);

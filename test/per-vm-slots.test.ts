/**
 * `ivsh host --vm-slots N`: the synchronisation slots (locks, condition variables, channels) one VM's
 * clients may hold at once. Without it one VM opening mutexes took every slot of the region, and every
 * other VM's lock, condvar or transfer was refused "all N slots are in use". VMs are real guests' paths
 * here: clients connecting over TCP through `ivsh bridge --vm NAME` processes that hand their connection
 * over, as QEMU's guestfwd runs them.
 */
import { expect, test } from "bun:test";
import { type Client, connect } from "../src/guest/index.ts";
import type { Mutex } from "../src/guest/sync.ts";
import { expectRejection } from "./helpers/errors.ts";
import { socketGuestfwd } from "./helpers/guestfwd.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig, runCli } from "./helpers/processes.ts";

/** For an arbiter's start that failed (a flag it does not know): its places are removed all the same. */
function cleanedUp(paths: TestPaths) {
  return (error: unknown): never => {
    paths.cleanup();
    throw error;
  };
}

const REFUSED =
  /VM 'greedy' already holds 4 synchronisation slots, its --vm-slots limit of 4 .*close some, or raise --vm-slots/;

test("a VM at its --vm-slots limit is refused more slots, naming it; other VMs and the host still get theirs", async () => {
  const paths = testPaths("iso-vm-slots");
  const arbiter = await ArbiterProcess.start(paths, { slots: "16", extra: ["--vm-slots", "4"] }).catch(
    cleanedUp(paths),
  );
  const greedyVm = socketGuestfwd("greedy", paths.socket);
  const politeVm = socketGuestfwd("polite", paths.socket);
  const clients: Client[] = [];
  const inVm = async (port: number, name: string) => {
    const client = await connect({ tcp: `127.0.0.1:${port}`, region: paths.region, name });
    clients.push(client);
    return client;
  };
  try {
    const greedy = await inVm(greedyVm.port, "greedy-1");
    const held: Mutex[] = [];
    for (let index = 0; index < 4; index++) held.push(await greedy.mutex(`greedy-${index}`));
    await expectRejection(greedy.mutex("greedy-4"), "QuotaExceeded", REFUSED);
    await expectRejection(greedy.condvar("greedy-cv"), "QuotaExceeded", REFUSED);
    // Another client of the same VM: a new slot is refused, one its VM holds already counts once.
    const second = await inVm(greedyVm.port, "greedy-2");
    await expectRejection(second.mutex("greedy-5"), "QuotaExceeded", REFUSED);
    const shared = await second.mutex("greedy-0");
    expect(await shared.lock()).toBe("acquired");
    shared.unlock();
    // The other VM and the host are not held back by it.
    const polite = await inVm(politeVm.port, "polite");
    await polite.mutex("polite-0");
    await polite.mutex("greedy-1"); // one the greedy VM created counts for this VM too, as it holds it
    const host = await connect(clientConfig(paths, { name: "host-client" }));
    clients.push(host);
    await host.mutex("host-0");
    const text = (await runCli(["status", "--socket", paths.socket])).stdout;
    expect(text).toMatch(/greedy: 2 clients .*; 4 slots held/);
    expect(text).toMatch(/polite: 1 client .*; 2 slots held/);
    expect(text).toMatch(/^limits: --vm-slots 4$/m);
    // A slot given back makes room for another.
    await held[3]!.close();
    await greedy.mutex("greedy-4");
  } finally {
    for (const client of clients) await client.close().catch(() => undefined);
    greedyVm.stop();
    politeVm.stop();
    await arbiter.stop();
    paths.cleanup();
  }
}, 60_000);

test("a VM over a lowered --vm-slots after a restart keeps its slots; only new ones are refused", async () => {
  const paths = testPaths("iso-vm-slots-restart");
  const arbiter = await ArbiterProcess.start(paths, { lease: "10s", extra: ["--vm-slots", "4"] }).catch(
    cleanedUp(paths),
  );
  const greedyVm = socketGuestfwd("greedy", paths.socket);
  let client: Client | undefined;
  try {
    client = await connect({ tcp: `127.0.0.1:${greedyVm.port}`, region: paths.region, name: "greedy" });
    const held: Mutex[] = [];
    for (let index = 0; index < 4; index++) held.push(await client.mutex(`kept-${index}`));
    await arbiter.kill9();
    arbiter.flags.extra = ["--vm-slots", "2"];
    await arbiter.restart();
    // Its locks still work (the session resumed with its holds), and it may still open what it holds.
    expect(await held[0]!.lock()).toBe("acquired");
    held[0]!.unlock();
    await expectRejection(
      client.mutex("new-after-restart"),
      "QuotaExceeded",
      /VM 'greedy' already holds 4 synchronisation slots, its --vm-slots limit of 2 /,
    );
    await held[0]!.close();
    await held[1]!.close();
    await expectRejection(client.mutex("new-after-restart"), "QuotaExceeded", /already holds 2 /);
    await held[2]!.close();
    await client.mutex("new-after-restart");
  } finally {
    await client?.close().catch(() => undefined);
    greedyVm.stop();
    await arbiter.stop();
    paths.cleanup();
  }
}, 60_000);

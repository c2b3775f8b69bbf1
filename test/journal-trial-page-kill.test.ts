/**
 * The sweep's trial write during a journal outage (StateFile.tryWrite) appends a page of empty lines and
 * cuts it off again. An arbiter killed -9 in between leaves them at the journal's end; one whose cut
 * failed leaves them with records after. Either journal must load whole on the next start: the page is
 * written here as either would leave it, and the arbiter killed -9 around it.
 */
import { afterEach, expect, test } from "bun:test";
import { appendFileSync } from "node:fs";
import { type Client, connect } from "../src/guest/index.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";

const TRIAL_PAGE = "\n".repeat(4096);

let paths: TestPaths | undefined;
afterEach(() => {
  paths?.cleanup();
  paths = undefined;
});

test("a trial page left at the journal's end, then records after it: each start loads every record", async () => {
  paths = testPaths("trial-page-kill");
  const arbiter = await ArbiterProcess.start(paths);
  const clients: Client[] = [];
  const open = async (name: string) => {
    const client = await connect({ region: paths!.region, socket: paths!.socket, name });
    clients.push(client);
    return client;
  };
  try {
    const holder = await open("holder");
    await holder.mutex("before-page");
    // Killed between the trial's write and its cut: the page is the journal's tail.
    await arbiter.kill9();
    appendFileSync(paths.state, TRIAL_PAGE);
    await arbiter.restart();
    const first = await open("first-look");
    expect((await first.mutex("before-page", false)).name).toBe("before-page");
    // The cut failed: records follow the page (the start above rewrote the file, so it is put back first).
    await holder.mutex("after-page-0");
    appendFileSync(paths.state, TRIAL_PAGE);
    await holder.mutex("after-page-1");
    await arbiter.kill9();
    await arbiter.restart();
    const second = await open("second-look");
    for (const name of ["before-page", "after-page-0", "after-page-1"])
      expect((await second.mutex(name, false)).name).toBe(name);
  } finally {
    await Promise.all(clients.map((client) => client.close().catch(() => {})));
    await arbiter.stop().catch(() => {});
  }
}, 60_000);

/**
 * Which of two stop signals counts (src/commands/_exit.ts): the first. A process told SIGTERM and then
 * SIGINT exits 143, as `ivsh bench`'s hard exit does after a second signal; and one held since start-up
 * (`ivsh host`, before its command claims the signals) hands its claimer the first one it received.
 * Each case runs in a child Bun of its own: the module's state is per process.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { REPO } from "./helpers/paths.ts";

const EXIT = join(REPO, "src/commands/_exit.ts");

/** Runs `body` in a child Bun with `_exit.ts` imported; `received(n)` resolves after n signals reached it. */
async function inChild(body: string): Promise<string> {
  const script = `
    import * as exit from ${JSON.stringify(EXIT)};
    let count = 0;
    const counter = () => count++;
    for (const name of ["SIGINT", "SIGTERM"]) process.on(name, counter);
    const received = async (n) => { while (count < n) await new Promise((r) => setTimeout(r, 5)); };
    ${body}
  `;
  const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  expect({ code, err }).toEqual({ code: 0, err: "" });
  return out.trim();
}

test("SIGTERM then SIGINT: the exit code is SIGTERM's (143)", async () => {
  const out = await inChild(`
    exit.onStopSignals(() => {});
    process.kill(process.pid, "SIGTERM"); await received(1);
    process.kill(process.pid, "SIGINT"); await received(2);
    console.log(exit.receivedStopSignal(), exit.interruptedExitCode());
  `);
  expect(out).toBe("SIGTERM 143");
});

test("two signals held before the command claims them: its handler is given the first", async () => {
  const out = await inChild(`
    exit.holdStopSignals();
    process.kill(process.pid, "SIGTERM"); await received(1);
    process.kill(process.pid, "SIGINT"); await received(2);
    const given = [];
    exit.onStopSignals((signal) => given.push(signal), { once: true });
    await new Promise((r) => setTimeout(r, 0)); // the held signal is handed over in a microtask
    console.log(given.join(","), exit.receivedStopSignal());
  `);
  expect(out).toBe("SIGTERM SIGTERM");
});

test("a signal held since start-up is the received one at once, before its claimer's handler runs", async () => {
  // `ivsh host` asks right after claiming (commands/host.ts): a stop before it started creates nothing.
  const out = await inChild(`
    exit.holdStopSignals();
    process.kill(process.pid, "SIGTERM"); await received(1);
    const before = exit.receivedStopSignal();
    exit.onStopSignals(() => {}, { once: true });
    console.log(before, exit.receivedStopSignal());
  `);
  expect(out).toBe("SIGTERM SIGTERM");
});

test("held, then claimed once: after the first signal, a second has its default effect", async () => {
  // No listener of the test's own here: only ivsh's stand between the signal and its default action.
  const script = `
    import * as exit from ${JSON.stringify(EXIT)};
    exit.holdStopSignals();
    let handled = false;
    exit.onStopSignals(() => { handled = true; }, { once: true });
    process.kill(process.pid, "SIGTERM");
    while (!handled) await new Promise((r) => setTimeout(r, 5));
    process.kill(process.pid, "SIGTERM");
    await new Promise((r) => setTimeout(r, 2000));
    console.log("survived the second SIGTERM");
  `;
  const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
  const [out, code] = await Promise.all([new Response(child.stdout).text(), child.exited]);
  expect({ out, code, signal: child.signalCode }).toEqual({ out: "", code: 143, signal: "SIGTERM" });
});

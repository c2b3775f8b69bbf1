/**
 * Watches the arbiter while the fuzz runs: a session of its own asks for `status` (and a heartbeat) every
 * few hundred milliseconds, each to be answered within the liveness bound; the process must not exit;
 * its resident memory is sampled. At the end, once every fuzz connection is closed, the arbiter must hold
 * nothing for them: no fuzz session, segment or synchronisation object left behind.
 */
import { readFileSync } from "node:fs";
import { STATUS_DEFAULT_LIMIT } from "../../src/protocol/messages.ts";
import type { StatusReport } from "../../src/protocol/status-report.ts";
import { Prng } from "../helpers/prng.ts";
import { FuzzLink } from "./link.ts";
import { ConnectionModel } from "./model.ts";
import { MONITOR, WHOLE_RUN } from "./report.ts";
import { Requests } from "./requests.ts";
import type { RunContext } from "./session.ts";

const POLL_MS = 250;
/**
 * Most resident memory the arbiter may use. A 10^6-frame run peaks near 150 MiB; the bound is far above
 * that, and far below what one connection could make it buffer if it kept a closing peer's bytes.
 */
const RSS_LIMIT_MIB = 512;
const LEAK_WAIT_MS = 15_000;

export class Monitor {
  maxRssMiB = 0;
  private report: StatusReport | undefined;
  private readonly requests: Requests;
  private readonly link: FuzzLink;
  private frame = 0;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly run: RunContext,
    private readonly arbiterPid: number,
    private readonly arbiterExited: () => boolean,
  ) {
    this.requests = new Requests(new Prng(run.seed, MONITOR), run.geometry, MONITOR);
    const model = new ConnectionModel({ ...run, isKnownToken: () => false });
    this.link = new FuzzLink(model, {
      socketPath: run.socketPath,
      connection: MONITOR,
      stats: run.stats,
      livenessMs: run.livenessMs,
      onAnswer: (expectation, reply) => {
        if (expectation.name === "status" && reply)
          this.report = JSON.parse(reply.json as string) as StatusReport;
      },
    });
  }

  async start(): Promise<void> {
    await this.link.open();
    await this.ask("hello");
    this.running = this.poll();
  }

  /** False once the arbiter died or stopped answering: the run cannot go on. */
  get healthy(): boolean {
    return this.link.usable && !this.arbiterExited();
  }

  /** Stops polling and closes the monitor's connection (before the arbiter is stopped). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  close(): void {
    this.link.end();
  }

  /** Everything the fuzz sessions held must be gone once their connections are. */
  async checkNothingLeft(): Promise<void> {
    const deadline = performance.now() + LEAK_WAIT_MS;
    let left = "";
    while (this.healthy && performance.now() < deadline) {
      await this.ask("status");
      left = this.leftovers();
      if (!left) return;
      await Bun.sleep(POLL_MS);
    }
    if (left) this.run.stats.violate(WHOLE_RUN, 0, "leak", `after every fuzz connection closed: ${left}`);
  }

  private leftovers(): string {
    const report = this.report;
    if (!report) return "no status report";
    const others = report.clients.filter((client) => client.name !== `fuzz-${MONITOR}`);
    const parts = [
      others.length
        ? `${others.length} sessions (${others
            .map((client) => client.name)
            .slice(0, 5)
            .join(", ")})`
        : "",
      report.segments.length ? `${report.segments.length} segments` : "",
      report.sync.length ? `${report.sync.length} synchronisation objects` : "",
      report.blocks.free !== report.blocks.total ? `${report.blocks.used} blocks in use` : "",
    ];
    return parts.filter(Boolean).join(", ");
  }

  private async poll(): Promise<void> {
    while (!this.stopped && this.healthy) {
      await this.ask("status", "heartbeat");
      this.sampleMemory();
      await Bun.sleep(POLL_MS);
    }
    if (this.arbiterExited()) this.run.stats.violate(WHOLE_RUN, 0, "crash", "the arbiter process exited");
  }

  private async ask(...names: ("hello" | "status" | "heartbeat")[]): Promise<void> {
    const units = names.map((name) => {
      const built =
        name === "hello"
          ? this.requests.hello()
          : this.requests.build(
              name,
              name === "status" ? { limit: STATUS_DEFAULT_LIMIT, onlyClient: 0 } : {},
            );
      return { bytes: built.bytes, frame: ++this.frame };
    });
    await this.link.send(units, "one-write");
    await this.link.settle();
  }

  /** Samples the arbiter's resident memory; `connection` is what a violation is blamed on. */
  sampleMemory(connection = WHOLE_RUN, frame = 0): void {
    let rssMiB = 0;
    try {
      const status = readFileSync(`/proc/${this.arbiterPid}/status`, "utf8");
      rssMiB = Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
    } catch {
      return; // the process is gone; `poll` reports that
    }
    if (rssMiB > RSS_LIMIT_MIB && this.maxRssMiB <= RSS_LIMIT_MIB)
      this.run.stats.violate(
        connection,
        frame,
        "memory",
        `the arbiter's resident memory reached ${rssMiB} MiB`,
      );
    this.maxRssMiB = Math.max(this.maxRssMiB, rssMiB);
  }
}

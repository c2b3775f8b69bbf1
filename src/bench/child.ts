/**
 * Child processes of the stream baselines: started with piped output, read line by line, waited for with
 * their stderr in the error, and always ended (by their own pid) when a transfer fails or times out.
 */
import type { Subprocess } from "bun";
import { failure } from "../errors.ts";

export class Child {
  private readonly process: Subprocess<"ignore", "pipe", "pipe">;
  private readonly lines: LineReader;
  /** Read from the start: a child that fills the stderr pipe unread would block and look like a hang. */
  private readonly stderr: Promise<string>;

  constructor(
    command: readonly string[],
    readonly label: string,
  ) {
    this.process = Bun.spawn([...command], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    this.lines = new LineReader(this.process.stdout);
    this.stderr = new Response(this.process.stderr).text();
  }

  /** The next stdout line; a child that exits first is a failure that carries its stderr. */
  async nextLine(): Promise<string> {
    const line = await this.lines.next();
    if (line !== undefined) return line;
    await this.finish();
    throw failure("PeerGone", `read from the ${this.label}`, "it exited without a report");
  }

  /** Waits for a clean exit; a non-zero code becomes an error with the child's own words. */
  async finish(): Promise<void> {
    const code = await this.process.exited;
    if (code === 0) return;
    const words = (await this.stderr).trim().split("\n").slice(-5).join(" | ");
    throw failure(
      "PeerGone",
      `run the ${this.label}`,
      `it exited with code ${code}: ${words || "no output"}`,
    );
  }

  get exited(): boolean {
    return this.process.exitCode !== null || this.process.signalCode !== null;
  }

  /** Peak resident memory in bytes, once the child has exited. */
  maxRssBytes(): number | undefined {
    return this.process.resourceUsage()?.maxRSS;
  }

  kill(): void {
    if (!this.exited) this.process.kill();
  }
}

class LineReader {
  private readonly reader: { read(): Promise<{ done: boolean; value?: Uint8Array | undefined }> };
  private readonly decoder = new TextDecoder();
  private buffered = "";

  constructor(stream: ReadableStream<Uint8Array>) {
    this.reader = stream.getReader();
  }

  async next(): Promise<string | undefined> {
    for (;;) {
      const newline = this.buffered.indexOf("\n");
      if (newline >= 0) {
        const line = this.buffered.slice(0, newline);
        this.buffered = this.buffered.slice(newline + 1);
        return line;
      }
      const { value, done } = await this.reader.read();
      if (done) return undefined;
      this.buffered += this.decoder.decode(value, { stream: true });
    }
  }
}

/**
 * Runs `work` with every child it starts registered in `children`; on failure or after `timeoutMs` all
 * of them are killed, so a stuck transfer never outlives the benchmark.
 */
export async function withChildren<T>(
  action: string,
  timeoutMs: number,
  work: (children: Child[]) => Promise<T>,
): Promise<T> {
  const children: Child[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(failure("Timeout", action, `it took longer than ${Math.round(timeoutMs / 1000)} s`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([work(children), expired]);
  } finally {
    clearTimeout(timer);
    for (const child of children) child.kill();
  }
}

/** Polls until `ready` holds, for things that announce themselves only by existing (a socket file). */
export async function waitUntil(ready: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ready()) {
    if (Date.now() > deadline)
      throw failure("Timeout", `wait for ${what}`, `it did not appear in ${timeoutMs} ms`);
    await Bun.sleep(2);
  }
}

/**
 * The Fig. 2 reader's OUT (report-loops.ts): opened at once, so a directory or permission that bars it fails
 * before anything waits; and what a failed or interrupted reader leaves of it. A reader that fails removes
 * an OUT it made and never wrote to; one interrupted (Ctrl-C) removes an OUT it made, written to or not: a
 * user expects no half file, and an empty one left behind read as a transfer of nothing. A file that was
 * there before is never removed: the error says what it holds now.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, unlinkSync } from "node:fs";
import { errnoOf } from "../ffi/errno.ts";
import { shellWord } from "../units.ts";

export class ReaderOut {
  /** Set once the transfer began and OUT was emptied for it (a file that was there lost its old bytes). */
  emptied = false;

  private constructor(
    readonly path: string,
    readonly fd: number,
    /** Whether this reader made OUT (it was not there). */
    readonly made: boolean,
  ) {}

  /** OUT opened for writing; made if it was not there. */
  static open(path: string): ReaderOut {
    const { O_CREAT, O_EXCL, O_WRONLY } = constants;
    try {
      return new ReaderOut(path, openSync(path, O_WRONLY | O_CREAT | O_EXCL, 0o666), true);
    } catch (error) {
      if (errnoOf(error) !== "EEXIST") throw error;
    }
    // O_CREAT still: O_EXCL does not follow a symbolic link, whose file may not be made yet.
    return new ReaderOut(path, openSync(path, O_WRONLY | O_CREAT, 0o666), false);
  }

  close(): void {
    closeSync(this.fd);
  }

  /**
   * After a failure: OUT removed if this reader made it and it is still the empty file `fd` is, not one
   * written to, nor one another put in its place since. Quietly kept otherwise: the failure to tell is the
   * reader's own.
   */
  removeUnwritten(): void {
    if (!this.made) return;
    try {
      if (fstatSync(this.fd).size === 0 && this.stillOurs()) unlinkSync(this.path);
    } catch {}
  }

  /**
   * After an interrupt: OUT removed if this reader made it (and it is still that file), however much it
   * holds; what became of it, for the error to say.
   */
  removeInterrupted(total: number): string {
    const shown = shellWord(this.path);
    try {
      const held = fstatSync(this.fd);
      const received = `${held.size} of the ${total} bytes`;
      if (!held.isFile()) return `${shown} is no regular file: nothing was removed`;
      if (this.made && this.stillOurs()) {
        unlinkSync(this.path);
        return `${shown}, which this reader had made, was removed (it held ${received})`;
      }
      if (this.made) return `${shown} was left: another file was put in its place meanwhile`;
      if (!this.emptied) return `${shown} was left as it was`;
      return `${shown}, there before this reader, was emptied as the transfer began and holds ${received} now: remove it, or run both again`;
    } catch (error) {
      return `${shown} could not be looked at or removed (${errnoOf(error) || String(error)}): remove it if it is half written`;
    }
  }

  /** Whether OUT's name still leads to the file `fd` is (not one another put in its place after moving this one). */
  private stillOurs(): boolean {
    const made = fstatSync(this.fd);
    const there = lstatSync(this.path);
    return there.ino === made.ino && there.dev === made.dev;
  }
}

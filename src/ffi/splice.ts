/**
 * Writing a file through a pipe: vmsplice(2) hands the pipe our pages (no copy) and splice(2) moves them
 * into the file, the kernel copying them with memcpy. Under QEMU's TCG emulator that copy runs on 8-byte
 * moves, while write(2)'s copy from user memory (`rep movsb` under ERMS) runs one emulated byte per step:
 * 64 MiB into a new tmpfs file in a TCG guest took 0.28 s this way against 0.43–0.45 s with write(2)
 * (docs/bench/transfer-path.md, "A receiver's file through a pipe under TCG"). vmsplice takes ordinary
 * memory only (a PCI BAR's mapping has no pages to hand over), so the caller copies a ring's chunk into
 * private memory first.
 */
import { ptr } from "bun:ffi";
import { failure } from "../errors.ts";
import { check, EAGAIN, EINTR, lastErrno, SystemCallError } from "./errno.ts";
import { closeFd, enlargePipe } from "./index.ts";
import { libc } from "./libc.ts";

const O_CLOEXEC = 0o2000000;

export class PipeWriter {
  private readonly ends = new Int32Array(2);
  private readonly iovec = new BigUint64Array(2);
  private closed = false;

  /** `pipeBytes`: the pipe's size asked for (the kernel may keep a smaller one: then more calls). */
  constructor(pipeBytes: number) {
    check(libc.pipe2(ptr(this.ends), O_CLOEXEC), "pipe2", "a pipe to write a file through");
    enlargePipe(this.ends[1]!, pipeBytes);
  }

  /**
   * Writes all `length` bytes at `address` (ordinary memory: not a device's mapping) to `fd`, as writeAll
   * does. Once it returns the bytes are in the file, and the memory may be reused.
   */
  write(fd: number, address: number, length: number, what: string): void {
    for (let done = 0; done < length; ) {
      this.iovec[0] = BigInt(address + done);
      this.iovec[1] = BigInt(length - done);
      const handed = Number(libc.vmsplice(this.ends[1]!, ptr(this.iovec), 1, 0));
      if (handed < 0) {
        const errno = lastErrno();
        if (errno === EINTR || errno === EAGAIN) continue;
        throw new SystemCallError("vmsplice", what, errno);
      }
      this.drain(fd, handed, what);
      done += handed;
    }
  }

  /** Moves `bytes` from the pipe into `fd`: the pipe holds our pages until then. */
  private drain(fd: number, bytes: number, what: string): void {
    for (let moved = 0; moved < bytes; ) {
      const got = Number(libc.splice(this.ends[0]!, null, fd, null, bytes - moved, 0));
      if (got > 0) {
        moved += got;
        continue;
      }
      // Nothing moved though the pipe holds our bytes: no file system does that; not waited for for ever.
      if (got === 0) throw failure("SystemCall", `write ${what}`, "splice(2) moved nothing from the pipe");
      const errno = lastErrno();
      if (errno !== EINTR && errno !== EAGAIN) throw new SystemCallError("write", what, errno);
    }
  }

  /** After a failed write the pipe still holds pages of ours: closing it lets them go. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeFd(this.ends[0]!);
    closeFd(this.ends[1]!);
  }
}

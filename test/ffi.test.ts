import { describe, expect, test } from "bun:test";
import { constants as osConstants } from "node:os";
import { join } from "node:path";
import {
  EAGAIN,
  EEXIST,
  EINPROGRESS,
  EINTR,
  EINVAL,
  ENOSYS,
  ETIMEDOUT,
  errnoName,
} from "../src/ffi/errno.ts";
import {
  closeFd,
  createFile,
  fileStatus,
  mapAnonymous,
  mapShared,
  O_RDONLY,
  O_RDWR,
  openFile,
  PROT_READ,
  reserveAt,
  SystemCallError,
} from "../src/ffi/index.ts";
import { testPaths } from "./helpers/paths.ts";

describe("libc through bun:ffi", () => {
  test("file types and sizes from fstat", async () => {
    const paths = testPaths("ffi");
    try {
      const file = join(paths.dir, "file");
      await Bun.write(file, "12345");
      const fifo = join(paths.dir, "fifo");
      Bun.spawnSync(["mkfifo", fifo]);
      const cases: [string, number, string, number | undefined][] = [
        [file, O_RDONLY, "file", 5],
        ["/dev/null", O_RDONLY, "char-device", 0],
        [fifo, O_RDWR, "pipe", undefined],
      ];
      for (const [path, flags, type, size] of cases) {
        const fd = openFile(path, flags);
        const status = fileStatus(fd, path);
        closeFd(fd);
        expect(status.type).toBe(type as typeof status.type);
        if (size !== undefined) expect(status.size).toBe(size);
      }
    } finally {
      paths.cleanup();
    }
  });

  test("failures name the call, the target and errno", () => {
    expect(() => openFile("/nonexistent/ivsh", O_RDONLY)).toThrow(
      "open /nonexistent/ivsh: ENOENT (No such file or directory)",
    );
    const fd = openFile("/dev/null", O_RDONLY);
    try {
      expect(() => mapShared(fd, 4096, PROT_READ, "/dev/null")).toThrow(SystemCallError);
      expect(() => mapShared(fd, 4096, PROT_READ, "/dev/null")).toThrow(
        "mmap /dev/null: ENODEV (No such device)",
      );
    } finally {
      closeFd(fd);
    }
    expect(() => reserveAt(mapAnonymous(8192) + 1, 4096, "misaligned")).toThrow("mmap misaligned: EINVAL");
  });

  test("createFile makes a new file, says undefined for one that exists, throws for anything else", () => {
    const paths = testPaths("ffi-create");
    try {
      const file = join(paths.dir, "new");
      const fd = createFile(file, O_RDWR, 0o600);
      expect(fd).toBeGreaterThanOrEqual(0);
      closeFd(fd!);
      expect(createFile(file, O_RDWR, 0o600)).toBeUndefined();
      expect(() => createFile(join(paths.dir, "missing/new"), O_RDWR, 0o600)).toThrow(
        `open ${join(paths.dir, "missing/new")}: ENOENT`,
      );
    } finally {
      paths.cleanup();
    }
  });

  test("the errno numbers the wrappers compare with are this platform's", () => {
    const { errno } = osConstants;
    expect({ EINTR, EAGAIN, EEXIST, EINVAL, ENOSYS, ETIMEDOUT, EINPROGRESS }).toEqual({
      EINTR: errno.EINTR,
      EEXIST: errno.EEXIST,
      EAGAIN: errno.EAGAIN,
      EINVAL: errno.EINVAL,
      ENOSYS: errno.ENOSYS,
      ETIMEDOUT: errno.ETIMEDOUT,
      EINPROGRESS: errno.EINPROGRESS,
    });
    expect(errnoName(errno.ENOMEM)).toBe("ENOMEM");
    expect(errnoName(4242)).toBe("errno 4242");
  });
});

/**
 * `ivsh host` with its region or its state journal flagged immutable or append-only (chattr +i / +a),
 * which no one may write, root included. Found by a trial: the region was a bare "open PATH: EPERM
 * (Operation not permitted)", and the journal "this user (uid 0) may not write in /dev/shm (EPERM); run
 * `ivsh host` as its owner", sending root to look for a permission that was not missing. Each names the
 * flag and the chattr that clears it.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openRegionReadWrite } from "../src/region/mapping.ts";
import { expectFailure } from "./helpers/errors.ts";
import { expectOneLine, runHost, startLines } from "./helpers/host-run.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { testUnless } from "./helpers/tools.ts";

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("host-flagged");
});
afterAll(() => paths?.cleanup());

const chattr = (flag: string, path: string) => Bun.spawnSync(["chattr", flag, path]).exitCode === 0;

/** Why the flags cannot be set here (not root, no chattr, a /dev/shm without them), or undefined. */
function cannotFlag(): string | undefined {
  if (process.getuid?.() !== 0) return "only root may set the immutable flag (chattr +i)";
  if (!Bun.which("chattr")) return "chattr is not installed";
  const probe = mkdtempSync("/dev/shm/ivsh-chattr-");
  const file = join(probe, "f");
  writeFileSync(file, "");
  const works = chattr("+i", file);
  chattr("-i", file);
  rmSync(probe, { recursive: true });
  return works ? undefined : "/dev/shm's file system here has no immutable flag (chattr +i)";
}
const flagless = cannotFlag();

testUnless(
  flagless,
  "an immutable region file: named so, with the chattr that clears it",
  async () => {
    const region = join(paths.shmDir, "immutable-region");
    writeFileSync(region, "");
    chattr("+i", region);
    try {
      const result = await runHost({ region, socket: join(paths.dir, "region.sock") });
      expect(result.exitCode).toBe(1);
      expectOneLine(
        result.stderr,
        `Failed to open the region ${region} since it is immutable (chattr +i; lsattr shows it): no one may ` +
          "write it, root included (clear the flag with chattr -i, or pass another --region)",
      );
    } finally {
      chattr("-i", region);
    }
  },
  60_000,
);

for (const [flag, letter] of [
  ["immutable", "i"],
  ["append-only", "a"],
] as const)
  testUnless(
    flagless,
    `an ${flag} state journal: named so, not 'this user may not write'`,
    async () => {
      const files = {
        region: join(paths.shmDir, `${flag}-region`),
        socket: join(paths.dir, `${flag}.sock`),
        state: join(paths.shmDir, `${flag}.state`),
      };
      const flags = [
        "--region",
        files.region,
        "--socket",
        files.socket,
        "--state",
        files.state,
        "--size",
        "1MiB",
      ];
      await startLines(flags, paths.dir);
      chattr(`+${letter}`, files.state);
      try {
        const result = await runHost(files);
        expect(result.exitCode).toBe(1);
        expect(result.stderr).not.toContain("may not write in");
        expectOneLine(
          result.stderr,
          `${files.state} since it is ${flag} (chattr +${letter}; lsattr shows it): no one may write it, root included ` +
            `(clear the flag with chattr -${letter}, or pass another --state)`,
        );
      } finally {
        chattr(`-${letter}`, files.state);
      }
    },
    60_000,
  );

testUnless(flagless, "a client mapping a region made immutable under its arbiter: named so", () => {
  const region = join(paths.shmDir, "immutable-mapped");
  writeFileSync(region, "");
  chattr("+i", region);
  try {
    // Before: "open PATH: EPERM (Operation not permitted)".
    expectFailure(
      () => openRegionReadWrite(region),
      "PermissionDenied",
      /^Failed to map the region \S+ since it is immutable \(chattr \+i; lsattr shows it\): .*chattr -i/,
    );
  } finally {
    chattr("-i", region);
  }
});

testUnless(
  flagless,
  "an immutable wake-up file: the arbiter's warning names the flag, not the user",
  async () => {
    const region = join(paths.shmDir, "wake-region");
    writeFileSync(`${region}.wake`, "");
    chattr("+i", `${region}.wake`);
    try {
      const said = await startLines(
        ["--region", region, "--socket", join(paths.dir, "wake.sock"), "--size", "1MiB"],
        paths.dir,
      );
      expect(said).toContain("the region's wake-up file could not be made");
      expect(said).not.toContain("let the arbiter's user write");
      expect(said).toContain(
        "it is immutable (chattr +i; lsattr shows it): no one may write it, root included (clear the flag with chattr -i)",
      );
    } finally {
      chattr("-i", `${region}.wake`);
    }
  },
  60_000,
);

// Found by a review: the wake-up file's own flag was named, but not its directory's: an existing region in
// a directory flagged immutable (its state elsewhere) was told "let the arbiter's user write DIR", to root.
testUnless(
  flagless,
  "a wake-up file that cannot be made in an immutable directory: the warning names the directory's flag",
  async () => {
    const dir = join(paths.shmDir, "frozen-wake");
    mkdirSync(dir);
    const region = join(dir, "region");
    writeFileSync(region, "");
    chattr("+i", dir);
    try {
      const said = await startLines(
        [
          ...["--region", region, "--socket", join(paths.dir, "frozen-wake.sock")],
          ...["--state", join(paths.dir, "frozen-wake.state"), "--size", "1MiB"],
        ],
        paths.dir,
      );
      expect(said).toContain("the region's wake-up file could not be made");
      expect(said).not.toContain("let the arbiter's user write");
      expect(said).toContain(
        `its directory ${dir} is immutable (chattr +i; lsattr shows it): no one may write it, root included (clear the flag with chattr -i)`,
      );
    } finally {
      chattr("-i", dir);
    }
  },
  60_000,
);

// Found by a review: an append-only directory lets the socket's and the journal's files be made, but not
// renamed into place nor removed, and Bun's rmSync says that EPERM as EFAULT: the start failed "since
// EFAULT: bad address in system call argument, rm '.../s.sock.~2b98f1'", leaving them there.
testUnless(
  flagless,
  "an append-only directory of the socket or the state: named so, before anything is made there",
  async () => {
    const dir = join(paths.shmDir, "append-only");
    mkdirSync(dir);
    chattr("+a", dir);
    const cases = [
      [
        { region: join(paths.shmDir, "append-region-1"), socket: join(dir, "s.sock") },
        "choose another --socket",
      ],
      [
        {
          region: join(paths.shmDir, "append-region-2"),
          socket: join(paths.dir, "append-2.sock"),
          state: join(dir, "s.state"),
        },
        "pass another --state",
      ],
    ] as const;
    try {
      for (const [files, instead] of cases) {
        const result = await runHost(files);
        expect(result.exitCode).toBe(1);
        expectOneLine(
          result.stderr,
          `its directory ${dir} is append-only (chattr +a; lsattr shows it): no one may write it, root included ` +
            `(clear the flag with chattr -a, or ${instead})`,
        );
        expect(readdirSync(dir)).toEqual([]);
      }
    } finally {
      chattr("-a", dir);
    }
  },
  60_000,
);

/** Root is refused nothing by modes, so "this user may not create files in DIR" sent it looking for one. */
testUnless(
  flagless,
  "an immutable directory of the socket, the state or the region: named so",
  async () => {
    const dir = join(paths.shmDir, "frozen");
    mkdirSync(dir);
    chattr("+i", dir);
    const cases = [
      [
        { region: join(paths.shmDir, "dir-region-1"), socket: join(dir, "s.sock") },
        "choose another --socket",
      ],
      [
        {
          region: join(paths.shmDir, "dir-region-2"),
          socket: join(paths.dir, "d2.sock"),
          state: join(dir, "s.state"),
        },
        "pass another --state",
      ],
      [{ region: join(dir, "region"), socket: join(paths.dir, "d3.sock") }, "pass another --region"],
    ] as const;
    try {
      for (const [files, instead] of cases) {
        const result = await runHost(files);
        expect(result.exitCode).toBe(1);
        expect(result.stderr).not.toContain("may not");
        expectOneLine(
          result.stderr,
          `its directory ${dir} is immutable (chattr +i; lsattr shows it): no one may write it, root included ` +
            `(clear the flag with chattr -i, or ${instead})`,
        );
      }
    } finally {
      chattr("-i", dir);
    }
  },
  60_000,
);

/**
 * launch.sh's checks that need no boot (--dry-run): what it tells the operator before the guest would
 * find out the hard way.
 */
import { expect, test } from "bun:test";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { testPaths } from "../helpers/paths.ts";
import { ArbiterProcess } from "../helpers/processes.ts";
import { testWithTool } from "../helpers/tools.ts";
import { LAUNCH, vmName } from "./vm.ts";

async function dryRun(...options: string[]): Promise<{ code: number; stderr: string }> {
  const common = ["--name", vmName("dry"), "--region", "none", "--accel", "tcg", "--no-build", "--dry-run"];
  const proc = Bun.spawn([LAUNCH, ...common, ...options], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  return { code, stderr };
}

testWithTool(
  "qemu-system-x86_64",
  "a bridge command that cannot run is said at launch, not only as guest connections closing",
  async () => {
    const missing = await dryRun("--ivsh", "/nonexistent/ivsh bridge-words");
    expect(missing.code).toBe(0);
    expect(missing.stderr).toContain("note: the bridge command '/nonexistent/ivsh'");
    expect(missing.stderr).toContain("guest connections to 10.0.2.100:7777 will fail");
    const found = await dryRun("--ivsh", `${process.execPath} /some/cli.ts`);
    expect(found.stderr).not.toContain("note: the bridge command");
  },
);

testWithTool(
  "qemu-system-x86_64",
  "a VM name the bridge refuses ('host', over 64 characters) is refused at launch, naming the rule",
  async () => {
    // Booted, such a VM ran every guest connection into a bridge usage error: the guest waited out its
    // reconnect timeout, then blamed the bridge command.
    for (const name of ["host", "v".repeat(65)]) {
      const proc = Bun.spawn(
        [LAUNCH, "--name", name, "--region", "none", "--accel", "tcg", "--no-build", "--dry-run"],
        { stdin: "ignore", stdout: "pipe", stderr: "pipe" },
      );
      const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
      expect(code).toBe(125);
      expect(stderr).toContain(`launch.sh: error: --name '${name}' is no VM name the arbiter takes:`);
      expect(stderr).toContain("1 to 64 letters, digits, '.', '_' or '-', other than 'host'");
    }
  },
);

test("--dry-run without QEMU installed changes nothing: no apt-get, no image build, no KVM probe", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ivsh-dry-"));
  try {
    // Every tool on the PATH but QEMU; apt-get only notes that it ran.
    const bin = join(dir, "bin");
    mkdirSync(bin);
    for (const from of ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"])
      for (const name of existsSync(from) ? readdirSync(from) : [])
        if (!name.startsWith("qemu-") && !existsSync(join(bin, name)))
          symlinkSync(join(from, name), join(bin, name));
    const ran = join(dir, "apt-get-ran");
    for (const tool of ["apt-get", "apt"]) {
      rmSync(join(bin, tool), { force: true });
      writeFileSync(join(bin, tool), `#!/bin/sh\necho "$0 $*" >> ${ran}\nexit 1\n`, { mode: 0o755 });
    }
    const proc = Bun.spawn([LAUNCH, "--name", vmName("dry-noqemu"), "--region", "none", "--dry-run"], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, PATH: bin, IVSH_ACCEL: "auto" },
    });
    const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
    expect(existsSync(ran) ? readFileSync(ran, "utf8") : "").toBe("");
    expect(code).toBe(0);
    expect(stderr).toContain(
      "note: qemu-system-x86_64 is not installed: a run without --dry-run installs it",
    );
    expect(stderr).toMatch(/^qemu-system-x86_64 -name /m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

testWithTool(
  "qemu-system-x86_64",
  "an arbiter's region of no power-of-two size: launch.sh says to serve a new one, not to truncate it",
  async () => {
    // `truncate -s 64M` on a region an arbiter serves leaves a file its next start refuses (the state
    // records 24 MiB): the arbiter is stuck, or its allocations are given up.
    const paths = testPaths("launch-odd-region");
    const arbiter = await ArbiterProcess.start(paths, { size: "24MiB" });
    try {
      const proc = Bun.spawn(
        [
          LAUNCH,
          "--name",
          vmName("odd"),
          "--region",
          paths.region,
          "--accel",
          "tcg",
          "--no-build",
          "--dry-run",
        ],
        { stdin: "ignore", stdout: "pipe", stderr: "pipe" },
      );
      const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
      expect(code).toBe(125);
      expect(stderr).toContain(`region ${paths.region} is 25165824 bytes`);
      expect(stderr).not.toContain("truncate -s");
      expect(stderr).toContain(
        "it is an ivsh arbiter's region: stop that arbiter and serve a new region of a power-of-two size (`ivsh host --region NEW --size 32MiB`), then pass --region NEW",
      );
    } finally {
      await arbiter.stop();
      paths.cleanup();
    }
  },
  60_000,
);

testWithTool(
  "qemu-system-x86_64",
  "a region of zeros of no power-of-two size: the refusal is launch.sh's line alone, no bash warning",
  async () => {
    // Reading its first bytes with $(head -c 4) had bash print "line N: warning: command substitution:
    // ignored null byte in input" above the refusal: a script's internals, nothing the user can act on.
    const dir = mkdtempSync(join(tmpdir(), "ivsh-odd-zeros-"));
    try {
      const region = join(dir, "region");
      writeFileSync(region, new Uint8Array(5_000_000));
      const { code, stderr } = await dryRun("--region", region);
      expect(code).toBe(125);
      expect(stderr).toBe(
        `launch.sh: error: region ${region} is 5000000 bytes; ivshmem needs a power-of-two size of at least 4096 (a PCI BAR): resize it, e.g. truncate -s 64M ${region}, or recreate it with a power-of-two size\n`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

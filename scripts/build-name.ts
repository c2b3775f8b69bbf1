/**
 * The build that `ivsh --version` names (scripts/build.ts embeds it in dist/ivsh): two executables built
 * 200 commits apart both printed 0.1.0, and an operator could not tell which one a host ran. The commit
 * (12 hex digits), "-dirty" while tracked files differ from it (untracked ones, a build's output, do not
 * count), and the commit's date, for people: "6b2c4b13e0aa 2026-12-07". "unknown" where `dir` is no git
 * checkout of its own: a tarball without .git, also one unpacked inside another project's checkout, whose
 * commit is not this build's.
 */
import { realpathSync } from "node:fs";

export function buildName(dir: string): string {
  const git = (...words: string[]) => {
    try {
      const ran = Bun.spawnSync(["git", "-C", dir, ...words], { stdout: "pipe", stderr: "pipe" });
      return { code: ran.exitCode, output: ran.stdout.toString().trim() };
    } catch {
      return { code: -1, output: "" }; // no git on this machine
    }
  };
  const top = git("rev-parse", "--show-toplevel");
  if (top.code !== 0 || realpathSync(top.output) !== realpathSync(dir)) return "unknown";
  const commit = git("rev-parse", "--short=12", "HEAD");
  const date = git("show", "-s", "--format=%cs", "HEAD");
  if (commit.code !== 0 || date.code !== 0) return "unknown"; // a checkout with no commit yet
  // 1: tracked files differ from HEAD; anything else (128) is an error, taken as no difference known.
  const dirty = git("diff", "--quiet", "HEAD", "--").code === 1;
  return `${commit.output}${dirty ? "-dirty" : ""} ${date.output}`;
}

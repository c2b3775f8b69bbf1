/**
 * The man page and the shell completions, both made from the command definitions: docs/ivsh.1 is what
 * scripts/man.ts makes now and renders without warnings; the completion scripts offer the commands and
 * flags `--help` shows, in bash (driven as bash drives it), zsh and fish.
 */
import { expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { manPage } from "../scripts/man.ts";
import { REPO } from "./helpers/paths.ts";
import { runCli } from "./helpers/processes.ts";
import { testWithTool } from "./helpers/tools.ts";

async function run(command: string[], env: Record<string, string> = {}) {
  const proc = Bun.spawn(command, { stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  const [exitCode, stdout, stderr] = await Promise.all([
    proc.exited,
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
  ]);
  return { exitCode, stdout, stderr };
}

test("docs/ivsh.1 is what scripts/man.ts makes of the commands now (else: bun scripts/man.ts > docs/ivsh.1)", async () => {
  expect(readFileSync(join(REPO, "docs/ivsh.1"), "utf8")).toBe(await manPage());
});

testWithTool(
  "man",
  "the man page renders without warnings and documents every command, exit codes and environment",
  async () => {
    const shown = await run(["man", "--warnings", "-l", join(REPO, "docs/ivsh.1")], {
      MANWIDTH: "100",
      LC_ALL: "C.UTF-8",
    });
    expect(shown.stderr).toBe("");
    expect(shown.exitCode).toBe(0);
    for (const heading of [
      "ivsh guest send [OPTIONS] FILE",
      "ivsh guest recv",
      "ivsh host",
      "EXIT STATUS",
      "IVSH_SOCKET",
    ])
      expect(shown.stdout).toContain(heading);
  },
);

test("an unknown shell is a usage error naming the ones there are", async () => {
  const result = await runCli(["completion", "tcsh"]);
  expect(result.exitCode).toBe(2);
  expect(result.stderr).toContain("'tcsh' since it is not one of bash, zsh, fish");
});

/** What bash offers after `words` (the last one being completed), with the script sourced. */
async function bashOffers(script: string, words: string[]): Promise<string[]> {
  const array = words.map((word) => `'${word}'`).join(" ");
  const program = `${script}\nCOMP_WORDS=(${array}); COMP_CWORD=${words.length - 1}; _ivsh; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const result = await run(["bash", "-c", program]);
  expect(result.stderr).toBe("");
  return result.stdout.split("\n").filter(Boolean);
}

test("bash: commands, subcommands and each command's flags; a flag's value and FILE are left to file completion", async () => {
  const { stdout: script } = await runCli(["completion", "bash"]);
  expect(await bashOffers(script, ["ivsh", "gu"])).toEqual(["guest"]);
  expect(await bashOffers(script, ["ivsh", "guest", ""])).toEqual(["send", "recv", "--help"]);
  expect(await bashOffers(script, ["ivsh", "guest", "send", "--ch"])).toEqual(["--channel", "--chunk-size"]);
  expect(await bashOffers(script, ["ivsh", "guest", "recv", "--channel", "x", "--fo"])).toEqual(["--force"]);
  expect(await bashOffers(script, ["ivsh", "guest", "recv", "--out", ""])).toEqual([]);
  expect(await bashOffers(script, ["ivsh", "guest", "send", "big"])).toEqual([]);
  expect(await bashOffers(script, ["ivsh", "host", "-"])).toContain("--log-level");
  // After the file argument, the command's flags are still offered.
  expect(await bashOffers(script, ["ivsh", "guest", "send", "big.iso", "--ch"])).toEqual([
    "--channel",
    "--chunk-size",
  ]);
  expect(await bashOffers(script, ["ivsh", "completion", ""])).toEqual(["bash", "zsh", "fish", "--help"]);
  // Whether a flag takes a value is the command's own business: --json is a switch here (a path on bench).
  expect(await bashOffers(script, ["ivsh", "guest", "recv", "--json", "--fo"])).toEqual(["--force"]);
  expect(await bashOffers(script, ["ivsh", "host", "--log-level", ""])).toEqual([
    "error",
    "warn",
    "info",
    "debug",
  ]);
});

test("bash: ivsh itself offers its commands, help and --version", async () => {
  const { stdout: script } = await runCli(["completion", "bash"]);
  const top = await bashOffers(script, ["ivsh", ""]);
  expect(top).toContain("guest");
  expect(top).toContain("help");
  expect(top).toContain("--version");
});

test("bash: a flag's one-letter alias is offered as -q, beside --quiet", async () => {
  const { stdout: script } = await runCli(["completion", "bash"]);
  const flags = await bashOffers(script, ["ivsh", "guest", "send", "-"]);
  expect(flags).toContain("-q");
  expect(flags).toContain("--quiet");
  expect(flags).not.toContain("--q");
});

testWithTool("zsh", "zsh: the script loads and registers the completion for ivsh", async () => {
  const { stdout: script } = await runCli(["completion", "zsh"]);
  const result = await run(["zsh", "-c", `${script}\nprint -r -- "\${_comps[ivsh]}"`], { HOME: "/tmp" });
  expect(result.stdout.trim()).toBe("_bash_complete -o default -F _ivsh");
});

testWithTool("fish", "fish: subcommands with their descriptions, and a command's flags", async () => {
  const { stdout: script } = await runCli(["completion", "fish"]);
  const complete = async (line: string) =>
    (await run(["fish", "--no-config", "-c", `${script}\ncomplete -C '${line}'`])).stdout;
  expect(await complete("ivsh guest ")).toContain("send\tSend FILE");
  expect(await complete("ivsh guest send --ch")).toContain("--chunk-size\t");
  expect(await complete("ivsh guest send --ch")).not.toContain("--force");
  expect(await complete("ivsh host --log-level ")).toContain("debug");
});

/** What fish completes for `line`, with the script loaded. */
async function fishCompletes(line: string): Promise<string> {
  const { stdout: script } = await runCli(["completion", "fish"]);
  return (await run(["fish", "--no-config", "-c", `${script}\ncomplete -C '${line}'`])).stdout;
}

testWithTool("fish", "fish: files after a flag that takes a value, and for a FILE argument", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ivsh-fish-"));
  try {
    writeFileSync(join(dir, "known.iso"), "");
    expect(await fishCompletes(`ivsh guest recv --out ${dir}/kno`)).toContain(`${dir}/known.iso`);
    expect(await fishCompletes(`ivsh guest send ${dir}/kno`)).toContain(`${dir}/known.iso`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

testWithTool("fish", "fish: past `guest send`, send and recv are not offered again", async () => {
  const afterSend = (await fishCompletes("ivsh guest send ")).split("\n");
  expect(afterSend.filter((line) => /^(send|recv)\t/.test(line))).toEqual([]);
});

test("bash: at a FILE argument the shell's file completion, not the flags; a value that looks like a flag is a value", async () => {
  const { stdout: script } = await runCli(["completion", "bash"]);
  expect(await bashOffers(script, ["ivsh", "guest", "send", ""])).toEqual([]);
  expect(await bashOffers(script, ["ivsh", "example", "fig1-writer", ""])).toEqual([]);
  // `--channel` here is --out's value (a file of that name): the word after it is no channel name.
  expect(await bashOffers(script, ["ivsh", "guest", "recv", "--out", "--channel", "--fo"])).toEqual([
    "--force",
  ]);
});

testWithTool(
  "fish",
  "fish: the top commands only at the top; a positional's choices; a flag's one-letter alias",
  async () => {
    const top = (await fishCompletes("ivsh ")).split("\n");
    expect(top.filter((line) => /^(host|guest|completion)\t/.test(line))).toHaveLength(3);
    const afterGuest = (await fishCompletes("ivsh guest ")).split("\n");
    expect(afterGuest.filter((line) => /^(host|status|completion)\t/.test(line))).toEqual([]);
    const shells = (await fishCompletes("ivsh completion ")).split("\n").filter(Boolean);
    expect(shells.toSorted()).toEqual(["bash", "fish", "zsh"]);
    expect(await fishCompletes("ivsh guest send -")).toContain("-q\tNo progress");
  },
);

/**
 * `ivsh completion bash|zsh|fish`: a completion script for the shell, made from the command definitions
 * (./_tree.ts), so it offers exactly the commands and flags `--help` shows. Install, e.g.:
 *   ivsh completion bash > /etc/bash_completion.d/ivsh
 *   ivsh completion zsh > "${fpath[1]}/_ivsh"
 *   ivsh completion fish > ~/.config/fish/completions/ivsh.fish
 */
import type { CommandDef } from "citty";
import { failure } from "../errors.ts";
import { writeStandard } from "../log.ts";
import { defineLeafCommand, UsageError } from "./_strict.ts";
import { meantOne } from "./_suggest.ts";
import { allCommands, type CommandInfo, commandTree } from "./_tree.ts";

const SHELLS = ["bash", "zsh", "fish"] as const;
type Shell = (typeof SHELLS)[number];

/** Every command's words after `ivsh`, as a bash case pattern: "host"|"guest"|"guest send"|... */
function commandPaths(root: CommandInfo): string {
  return allCommands(root)
    .filter((command) => command.path.length > 0)
    .map((command) => `"${command.path.join(" ")}"`)
    .join("|");
}

/** The words a command offers next: its subcommands, its argument's choices if it lists them, its flags. */
function offers(command: CommandInfo): string[] {
  const flags = command.flags.flatMap((flag) => [
    `--${flag.name}`,
    ...flag.aliases.map((alias) => (alias.length === 1 ? `-${alias}` : `--${alias}`)),
  ]);
  const extra = command.path.length === 0 ? ["help", "--version"] : [];
  const choices = command.positionals.flatMap((positional) => positional.choices ?? []);
  return [...command.children.map((child) => child.path.at(-1)!), ...choices, ...extra, ...flags, "--help"];
}

/** A bash case over command paths: which of that command's flags take a value (`--json` may, or not). */
function valueFlagCases(root: CommandInfo): string {
  return allCommands(root)
    .map((command) => {
      const flags = command.flags.filter((flag) => flag.takesValue).map((flag) => `--${flag.name}`);
      return flags.length > 0
        ? `    "${command.path.join(" ")}") case "$2" in ${flags.join("|")}) return 0 ;; esac ;;`
        : "";
    })
    .filter(Boolean)
    .join("\n");
}

/** After a flag whose values are listed (its value hint): those values. */
function choiceCases(root: CommandInfo): string {
  const choices = new Map<string, string[]>();
  for (const command of allCommands(root))
    for (const flag of command.flags) if (flag.choices) choices.set(flag.name, flag.choices);
  return [...choices]
    .map(
      ([flag, values]) =>
        `    --${flag}) COMPREPLY=($(compgen -W "${values.join(" ")}" -- "$cur")); return 0 ;;`,
    )
    .join("\n");
}

/**
 * Bash: the command is the words typed so far that are neither flags nor a flag's value; the offer is
 * that command's subcommands and flags. After a flag that takes a value, and for a command's file
 * argument, the shell's own file completion (-o default) applies.
 */
function bashScript(root: CommandInfo): string {
  const cases = allCommands(root)
    .map((command) => {
      const files = command.positionals.some((positional) => !positional.choices) ? 1 : 0;
      return `    "${command.path.join(" ")}") offer="${offers(command).join(" ")}" files=${files} ;;`;
    })
    .join("\n");
  return `# ivsh completion for bash (ivsh completion bash)
# Whether flag $2 of command "$1" (its words after ivsh) takes a value.
_ivsh_takes_value() {
  case "$1" in
${valueFlagCases(root)}
  esac
  return 1
}
_ivsh() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" path="" word skip=0 i
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    if ((skip)); then skip=0; continue; fi
    case "$word" in
      -*) _ivsh_takes_value "$path" "$word" && skip=1 ;;
      # Only words that name a deeper command extend the path; a file argument does not.
      *) case "\${path:+$path }$word" in ${commandPaths(root)}) path="\${path:+$path }$word" ;; esac ;;
    esac
  done
  # After a flag that takes a value: its fixed values, else the shell's file completion.
  if ((skip)); then
    case "$prev" in
${choiceCases(root)}
    esac
    return 0
  fi
  local offer="" files=0
  case "$path" in
${cases}
    *) return 0 ;;
  esac
  # A command that takes a file: anything but a flag is the shell's file completion.
  if ((files)) && [[ "$cur" != -* ]]; then return 0; fi
  COMPREPLY=($(compgen -W "$offer" -- "$cur"))
}
complete -o default -F _ivsh ivsh
`;
}

function zshScript(root: CommandInfo): string {
  return `#compdef ivsh
# ivsh completion for zsh (ivsh completion zsh): the bash completion, through zsh's bashcompinit.
(( $+functions[compdef] )) || { autoload -U compinit && compinit -u; }
autoload -U +X bashcompinit && bashcompinit
${bashScript(root)}`;
}

function fishQuote(text: string): string {
  return `'${text.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
}

/** Fish: one `complete` line per subcommand and per flag, each conditioned on the words seen so far. */
function fishScript(root: CommandInfo): string {
  const lines = ["# ivsh completion for fish (ivsh completion fish)", "complete -c ivsh -f"];
  for (const command of allCommands(root)) {
    const seen = command.path.map((word) => `__fish_seen_subcommand_from ${word}`);
    const deeper = command.children.map((child) => child.path.at(-1)!);
    const notDeeper = deeper.length > 0 ? [`not __fish_seen_subcommand_from ${deeper.join(" ")}`] : [];
    const condition = command.path.length === 0 ? ["__fish_use_subcommand"] : [...seen, ...notDeeper];
    const when = `-n ${fishQuote(condition.join("; and "))}`;
    for (const child of command.children)
      lines.push(`complete -c ivsh ${when} -a ${child.path.at(-1)} -d ${fishQuote(child.description)}`);
    for (const flag of command.flags) {
      const short = flag.aliases.filter((alias) => alias.length === 1).map((alias) => ` -s ${alias}`);
      const { choices } = flag;
      const value = choices ? ` -x -a ${fishQuote(choices.join(" "))}` : flag.takesValue ? " -r -F" : "";
      lines.push(
        `complete -c ivsh ${when} -l ${flag.name}${short.join("")}${value} -d ${fishQuote(flag.description)}`,
      );
    }
    for (const positional of command.positionals)
      lines.push(
        positional.choices
          ? `complete -c ivsh ${when} -a ${fishQuote(positional.choices.join(" "))}`
          : `complete -c ivsh ${when} -F`,
      );
  }
  return `${lines.join("\n")}\n`;
}

async function completionScript(root: CommandDef, shell: string): Promise<string> {
  if (!(SHELLS as readonly string[]).includes(shell))
    throw failure(
      "InvalidArgument",
      `make completion for '${shell}'`,
      `it is not one of ${SHELLS.join(", ")}${meantOne(shell, SHELLS)}`,
    );
  const tree = await commandTree(root);
  const make: Record<Shell, (root: CommandInfo) => string> = {
    bash: bashScript,
    zsh: zshScript,
    fish: fishScript,
  };
  return make[shell as Shell](tree);
}

/** The command, given the CLI's root (passed in, so this file need not import the CLI). */
export function completionCommand(root: CommandDef) {
  return defineLeafCommand({
    meta: { name: "completion", description: "Print a shell completion script: bash, zsh or fish" },
    args: {
      shell: {
        type: "positional",
        description: "bash, zsh or fish",
        valueHint: SHELLS.join("|"),
        required: true,
      },
    },
    async run({ args }) {
      let script: string;
      try {
        script = await completionScript(root, args.shell);
      } catch (error) {
        throw new UsageError((error as Error).message);
      }
      // Outside the try: stdout that cannot take the script is no usage error.
      writeStandard(1, script);
    },
  });
}

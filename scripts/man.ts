/**
 * `bun scripts/man.ts > docs/ivsh.1`: the man page, made from the same command definitions as `--help`
 * (src/commands/_tree.ts), plus what help has no room for: environment, exit status, files. A test
 * (test/manual.test.ts) fails when docs/ivsh.1 is out of date. Read it with `man -l docs/ivsh.1`;
 * install it as /usr/local/share/man/man1/ivsh.1.
 */
import packageJson from "../package.json" with { type: "json" };
import { main } from "../src/cli.ts";
import { allCommands, type CommandInfo, commandTree, type FlagInfo } from "../src/commands/_tree.ts";

/** roff text: backslashes and leading dots or quotes escaped, hyphens as minus signs where typed. */
function roff(text: string): string {
  return text
    .replaceAll("\\", "\\e")
    .replaceAll("-", "\\-")
    .replace(/^([.'])/gm, "\\&$1");
}

function flagLine(flag: FlagInfo): string {
  const short = flag.aliases.filter((alias) => alias.length === 1).map((alias) => `\\fB\\-${alias}\\fR, `);
  const value = flag.takesValue ? ` \\fI${flag.valueHint ?? flag.name.toUpperCase()}\\fR` : "";
  const fallback = flag.defaultValue && flag.takesValue ? ` (default: ${roff(flag.defaultValue)})` : "";
  return `.TP\n${short.join("")}\\fB\\-\\-${roff(flag.name)}\\fR${value}\n${roff(flag.description)}${fallback}`;
}

function commandSection(command: CommandInfo): string {
  const words = ["ivsh", ...command.path].join(" ");
  const positionals = command.positionals.map((each) =>
    each.required ? ` ${each.name}` : ` [${each.name}]`,
  );
  const lines = [`.SS "${words}${command.flags.length ? " [OPTIONS]" : ""}${positionals.join("")}"`];
  lines.push(roff(command.description));
  for (const positional of command.positionals)
    lines.push(`.TP\n\\fI${positional.name}\\fR\n${roff(positional.description)}`);
  lines.push(...command.flags.map(flagLine));
  return lines.join("\n");
}

const ENVIRONMENT: [string, string][] = [
  ["IVSH_SOCKET", "The arbiter's Unix socket, where --socket is not given (default /tmp/ivsh.sock)."],
  ["IVSH_REGION", "The region file on the host, where --region is not given (default /dev/shm/ivsh)."],
  [
    "IVSH_CONNECT",
    "The arbiter's address as host:port, as a guest reaches it (default 10.0.2.100:7777 in a guest).",
  ],
  ["IVSH_LOG_LEVEL", "error, warn, info (the default) or debug: how much is logged to stderr."],
  ["IVSH_FUTEX", "0: waiters always park in the arbiter, never on this kernel's futex."],
  ["IVSH_NATIVE", "0: do not load the native copy+hash helper (the portable path computes the same digest)."],
  [
    "IVSH_RECV_SPLICE",
    "1 or 0: guest recv --out FILE writes FILE through a pipe (vmsplice, splice) or with write(2) whatever the CPU (by default through the pipe only under QEMU's TCG emulator, where it is faster).",
  ],
  [
    "IVSH_PROBE_CACHE",
    "0: in a guest, measure the BAR's two mappings at every command instead of reusing this boot's verdict.",
  ],
  [
    "IVSH_BRIDGE",
    "relay: ivsh bridge relays the guest's bytes itself instead of handing the connection to the arbiter (for an arbiter too old to take it).",
  ],
  [
    "IVSH_IDLE_COMPILER",
    "0: guest send and recv leave the JavaScript compiler's threads at normal priority (by default idle, so their bursts do not preempt the data path).",
  ],
  [
    "IVSH_PHASES",
    "1: guest send and recv print where their time went (ivsh phase MS LABEL lines on stderr).",
  ],
  [
    "IVSH_PARENT_PID",
    "With ivsh host --exit-with-parent: the pid of the process that starts the arbiter directly; an arbiter whose parent is another process (that one already exited) stops at once, creating nothing; if the named process still runs (a wrapper in between), it refuses to start (exit 2).",
  ],
  ["NO_COLOR", "Set (and not empty): no colour, even on a terminal (off a terminal there is none anyway)."],
];

const EXIT_STATUS: [string, string][] = [
  ["0", "Success."],
  ["1", "The operation failed; the message says what and why."],
  ["2", "The command line is wrong: an unknown flag, a missing argument, a value a flag refuses."],
  [
    "3",
    "ivsh status --check only: the arbiter answered and names problems or a journal outage (each also on stderr).",
  ],
  [
    "128 + N",
    "Interrupted by signal N: 129 SIGHUP, 130 SIGINT, 143 SIGTERM. ivsh host instead stops cleanly on these three and exits 0: its state stays for the next start.",
  ],
];

export async function manPage(): Promise<string> {
  const tree = await commandTree(main);
  const commands = allCommands(tree).filter(
    (command) => command.path.length > 0 && command.children.length === 0,
  );
  return [
    `.TH IVSH 1 "" "ivsh ${packageJson.version}" "User Commands"`,
    ".SH NAME",
    `ivsh \\- ${roff(packageJson.description)}`,
    ".SH SYNOPSIS",
    `.B ivsh\n.I command\n[\\fIoptions\\fR]`,
    ".SH DESCRIPTION",
    roff(
      "ivsh shares one memory region between processes on a host and in its VMs (QEMU's ivshmem device). " +
        "The arbiter (ivsh host) hands out blocks, names, read / write / write-exclusive grants and locks; " +
        "clients map the region and can touch only what they were granted; ivsh guest send / recv move " +
        "files and streams through it, verified by a digest. Every command has --help; ivsh help COMMAND " +
        "says the same.",
    ),
    ".SH COMMANDS",
    ...commands.map(commandSection),
    ".SH ENVIRONMENT",
    roff(
      "A variable set to the empty string is taken as unset (NAME= in a shell or a unit file's " +
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the shell's ${NAME:-default}, quoted for the reader
        "Environment=NAME= gives the default, as the shell's ${NAME:-default} reads it), not refused.",
    ),
    ...ENVIRONMENT.map(([name, text]) => `.TP\n.B ${name}\n${roff(text)}`),
    ".SH EXIT STATUS",
    ...EXIT_STATUS.map(([code, text]) => `.TP\n.B ${roff(code)}\n${roff(text)}`),
    ".SH FILES",
    `.TP\n.I /dev/shm/ivsh\n${roff("The region (host); REGION.state beside it is the arbiter's journal, REGION.wake its futex mailbox.")}`,
    `.TP\n.I /tmp/ivsh.sock\n${roff("The arbiter's socket; SOCKET.handover beside it is the datagram socket through which ivsh bridge hands a guest's connection to the arbiter.")}`,
    ".SH SEE ALSO",
    roff("qemu-system-x86_64(1); the README and docs/ of the ivsh source."),
    "",
  ].join("\n");
}

if (import.meta.main) process.stdout.write(await manPage());

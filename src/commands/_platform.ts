/**
 * Imported first by the CLI, before any module that loads the system calls (src/ffi/libc.ts throws as it
 * loads off Linux x86-64, where nothing could catch it): there every command, `--version` too, fails with
 * the CLI's one-line error and exit 1, not an uncaught exception with Bun's listing of the throw.
 */
import { unsupportedPlatform } from "../platform.ts";
import { EXIT_FAILED } from "./_exit.ts";

const unsupported = unsupportedPlatform();
if (unsupported) {
  process.stderr.write(`[ivsh] ERROR ${unsupported.message}\n`);
  process.exit(EXIT_FAILED);
}

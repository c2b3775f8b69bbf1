/**
 * The one logger of ivsh. Library code does not print; commands and the arbiter's serve loop do. All of
 * it goes to stderr: stdout is for data (`ivsh guest recv --out -`) and for `--json` results.
 */
import { createConsola } from "consola";

export const log = createConsola({ stdout: process.stderr, stderr: process.stderr }).withTag("ivsh");

/** The one logger of ivsh. Library code does not print; commands and the arbiter's serve loop do. */
import { consola } from "consola";

export const log = consola.withTag("ivsh");

/** A PATH for a child without some of this one's programs (QEMU, for the cases where it is missing). */
import { existsSync, mkdirSync, readdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";

/**
 * A directory `dir/bin` linking every program on this process's PATH whose name does not start with
 * `prefix` (the first of each name, as PATH finds it); returns its path, to be the child's whole PATH.
 */
export function pathWithout(dir: string, prefix: string): string {
  const bin = join(dir, "bin");
  mkdirSync(bin);
  for (const parent of (process.env.PATH ?? "").split(":"))
    for (const name of listed(parent))
      if (!name.startsWith(prefix) && !existsSync(join(bin, name)))
        symlinkSync(join(parent, name), join(bin, name));
  return bin;
}

/** A PATH entry's names; none when it is missing or no directory. */
function listed(parent: string): string[] {
  try {
    return parent ? readdirSync(parent) : [];
  } catch {
    return [];
  }
}

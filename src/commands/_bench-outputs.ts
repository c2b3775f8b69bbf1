/** How `ivsh bench` writes its outputs (tables, --json, figures) and says what became of them. */
import { log } from "../log.ts";

/**
 * The run's outputs (tables, --json, figures), each written whatever became of the others: a destination
 * that fails (a full disk) loses what it was to hold, not the run's other results. `settle` says every
 * failure once and throws the last, the run's.
 */
export function eachOutput() {
  const failed: unknown[] = [];
  return {
    attempt: (write: () => unknown) =>
      Promise.resolve()
        .then(write)
        .then(
          () => undefined,
          (error) => void failed.push(error),
        ),
    settle: () => {
      // Each said once: a full stdout failed --scale --vm's two tables alike, and it came twice.
      const last = failed.at(-1);
      const said = new Set([String(last)]);
      for (const error of failed.slice(0, -1)) {
        if (!said.has(String(error))) log.error(error);
        said.add(String(error));
      }
      if (failed.length > 0) throw last;
    },
  };
}

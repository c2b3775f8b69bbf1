/**
 * The word a mistyped command or option most likely meant (`ivsh stauts`, `--jsn`), for the usage error
 * to name: a newcomer told only "Unknown command 'stauts'" had to find the spelling in --help.
 */

/**
 * The one candidate within a typo of `word`: an edit distance (a swap of two neighbours counting as one
 * edit) of 1, 2 for a word of 5 or more characters, 3 of 7 or more (`receive` for recv); else the one
 * candidate `word` begins (`comp`).
 * Undefined when none is that close, or two are equally close: a guess between them would mislead.
 */
export function closestWord(word: string, candidates: readonly string[]): string | undefined {
  const allowed = word.length >= 7 ? 3 : word.length >= 5 ? 2 : 1;
  let best: string[] = [];
  let bestDistance = allowed;
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate);
    if (distance < bestDistance) [best, bestDistance] = [[candidate], distance];
    else if (distance === bestDistance) best.push(candidate);
  }
  if (best.length === 1) return best[0];
  if (best.length > 1 || word.length < 2) return undefined;
  const begun = candidates.filter((candidate) => candidate.startsWith(word));
  return begun.length === 1 ? begun[0] : undefined;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps. */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const row = rows[i]!;
      const above = rows[i - 1]!;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(above[j]! + 1, row[j - 1]! + 1, above[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        row[j] = Math.min(row[j]!, rows[i - 2]![j - 2]! + 1);
    }
  return rows[a.length]![b.length]!;
}

/** ": did you mean bash?" after `bsh`, for a value refused as none of `values`; "" when none is that close. */
export function meantOne(word: string, values: readonly string[]): string {
  const meant = closestWord(word, values);
  return meant === undefined ? "" : `: did you mean ${meant}?`;
}

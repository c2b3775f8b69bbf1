/**
 * The library's type declarations, types/ (the package's `types`): emitted by tsc from the package's entry
 * points (tsconfig.types.json: ivsh, ivsh/shm, ivsh/channel) and what they reach, with the `.ts` in
 * relative imports made `.js`, which every module resolution a user's tsconfig may choose maps to the
 * `.d.ts` beside it. types/ is generated, not in git, so every way the package is made runs this:
 *
 *   node scripts/types.mjs            npm's `prepare`: a plain `npm install` here (and CI's `npm ci`), and
 *                                     an install from git (`npm install git+file://...`, which installs the
 *                                     checkout's devDependencies first), or of a checkout's directory (a
 *                                     link: its devDependencies only if `npm install` ran there). Skipped
 *                                     when types/ is newer than every input (an install takes no 4 s more);
 *                                     without TypeScript it says in one line what to run, and succeeds.
 *                                     In an unpacked tarball's directory (the tarball holds this file, no
 *                                     tsconfig) it keeps the types/ that came with it.
 *   node scripts/types.mjs --force    `npm pack`'s prepack: always rebuilt, and fails without TypeScript.
 *
 * Plain JavaScript for Node, as scripts/native.mjs: an install need not have Bun on its PATH.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..");
const OUTPUT = join(REPO, "types");
const TSC = join(REPO, "node_modules/typescript/bin/tsc");
/** Written last: its time is when types/ was complete (a tsc cut short leaves none). */
const STAMP = join(OUTPUT, ".built");

/** Builds types/ unless it is up to date (or `force`); returns whether it is there afterwards. */
export function buildTypes(force) {
  // A packed package (an unpacked tarball installed as a directory) has no tsconfig: its types/ came with it.
  if (!force && !existsSync(join(REPO, "tsconfig.types.json"))) return existsSync(STAMP);
  if (!force && upToDate()) return true;
  if (!existsSync(TSC)) {
    const message = `ivsh: types/ (the TypeScript declarations) was not generated since TypeScript is not installed in ${REPO}`;
    if (force) throw new Error(`${message}: run \`npm install\` there first`);
    console.warn(
      `${message} (a checkout whose dependencies were never installed): run \`npm install\` there, which generates it; until then TypeScript finds no types for "ivsh".`,
    );
    return false;
  }
  rmSync(OUTPUT, { recursive: true, force: true });
  const result = spawnSync(process.execPath, [TSC, "-p", "tsconfig.types.json"], { cwd: REPO, encoding: "utf8" });
  if (result.status !== 0)
    throw new Error(`ivsh: tsc -p tsconfig.types.json failed: ${`${result.stdout}${result.stderr}`.trim()}`);
  const ts = createRequire(import.meta.url)(join(REPO, "node_modules/typescript"));
  for (const file of filesUnder(OUTPUT).filter((path) => path.endsWith(".d.ts"))) {
    const text = keepConstructorsHidden(ts, file, readFileSync(file, "utf8"));
    writeFileSync(file, text.replace(/((?:from |import\()"\.{1,2}\/[^"]*)\.ts"/g, '$1.js"'));
  }
  writeFileSync(STAMP, "");
  // On stderr: as `npm pack`'s prepack, stdout is npm's (`npm pack --json` prints its JSON there).
  console.error("ivsh: wrote types/ (declarations of the package's entry points)");
  return true;
}

/**
 * stripInternal leaves an `@internal` constructor out of `declarations` (the text of `file`), and a class
 * that declares none has TypeScript's public `constructor()`: a user's `new Client()` type-checked and failed
 * when it ran. Such a class keeps a constructor without parameters, private (protected when abstract, for
 * its subclasses), as does each class of its module that extends it and declares none (`Mutex`).
 */
function keepConstructorsHidden(ts, file, declarations) {
  const source = join(REPO, "src", relative(OUTPUT, file).replace(/\.d\.ts$/, ".ts"));
  if (!existsSync(source)) return declarations;
  const classesOf = (path, text) =>
    ts
      .createSourceFile(path, text, ts.ScriptTarget.Latest, true)
      .statements.filter((node) => ts.isClassDeclaration(node) && node.name);
  const hasConstructor = (node) => node.members.some(ts.isConstructorDeclaration);
  const emitted = new Map(classesOf(file, declarations).map((node) => [node.name.text, node]));
  const stripped = new Set();
  const hide = [];
  for (const node of classesOf(source, readFileSync(source, "utf8"))) {
    const declared = emitted.get(node.name.text);
    if (!declared || hasConstructor(declared)) continue;
    const base = node.heritageClauses
      ?.find((clause) => clause.token === ts.SyntaxKind.ExtendsKeyword)
      ?.types[0]?.expression.getText();
    if (hasConstructor(node) || stripped.has(base)) {
      stripped.add(node.name.text);
      const abstract = ts.getModifiers(declared)?.some((m) => m.kind === ts.SyntaxKind.AbstractKeyword);
      hide.push([declared.members.pos, `\n    ${abstract ? "protected" : "private"} constructor();`]);
    }
  }
  return hide
    .sort(([a], [b]) => b - a)
    .reduce((text, [at, line]) => `${text.slice(0, at)}${line}${text.slice(at)}`, declarations);
}

/** types/ was completed after the last change to anything it is made from. */
function upToDate() {
  if (!existsSync(STAMP)) return false;
  const built = statSync(STAMP).mtimeMs;
  const inputs = [
    ...filesUnder(join(REPO, "src")),
    join(REPO, "tsconfig.json"),
    join(REPO, "tsconfig.types.json"),
    fileURLToPath(import.meta.url),
  ];
  return inputs.every((path) => statSync(path).mtimeMs < built);
}

function filesUnder(directory) {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    return entry.isDirectory() ? filesUnder(path) : [path];
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    buildTypes(process.argv.includes("--force"));
  } catch (error) {
    console.error(error.message);
    process.exit(1);
  }
}

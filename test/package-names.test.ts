/**
 * What the installed package names is there for its user. Its declarations: public fields were typed with
 * the library's own internals, which no entry point exports (`client.parker: Parker`, `client.geometry:
 * Geometry`, `receiver.ring: Ring`, `IvshError.code: ErrorCodeName`): an editor offered them, and a user
 * could not write their types. Every type reachable from what ivsh, ivsh/shm and ivsh/channel export is now
 * exported by one of them, or the member that reached it is internal and left out of the declarations.
 * Its messages: a script of ivsh's they name that the package does not ship is said to be in its source
 * repository.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { INSTALL_MS, newProject, packCheckout, run, TSC } from "./helpers/npm-project.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";

let paths: TestPaths;
let project: string;

beforeAll(async () => {
  paths = testPaths("package-names");
  const packed = await packCheckout(["--pack-destination", paths.dir]);
  expect(packed.exitCode, packed.output).toBe(0);
  const tarball = join(paths.dir, packed.stdout.trim().split("\n").at(-1)!);
  project = newProject(paths.dir, "types-user");
  const installed = await run(
    ["npm", "install", "--no-audit", "--no-fund", "--prefer-offline", "--ignore-scripts", tarball],
    { cwd: project },
  );
  expect(installed.exitCode, installed.output).toBe(0);
}, INSTALL_MS);

afterAll(() => paths?.cleanup());

const ENTRIES = ["guest/index.d.ts", "guest/shm.d.ts", "transfer/index.d.ts"];

/** Public: neither `private` nor `protected`, nor an ECMAScript #private name. */
function isPublic(node: ts.Node): boolean {
  const modifiers = ts.canHaveModifiers(node) ? (ts.getModifiers(node) ?? []) : [];
  const hidden = [ts.SyntaxKind.PrivateKeyword, ts.SyntaxKind.ProtectedKeyword];
  const name = (node as { name?: ts.Node }).name;
  return (
    !modifiers.some((modifier) => hidden.includes(modifier.kind)) && !(name && ts.isPrivateIdentifier(name))
  );
}

/**
 * Each type declared in the package that a public member of an export reaches (through the members of the
 * types it reaches in turn) but that no entry point exports, with the member that reached it first. A
 * class's base class is not one: its members are named through the class (`Mutex`'s `close()`).
 */
function unnameableTypes(types: string): Map<string, string> {
  const program = ts.createProgram(
    ENTRIES.map((entry) => join(types, entry)),
    { strict: true, types: [], noEmit: true },
  );
  const checker = program.getTypeChecker();
  const ours = (declaration: ts.Declaration) => declaration.getSourceFile().fileName.startsWith(types);
  const resolve = (symbol: ts.Symbol) =>
    symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
  const exported = new Set<ts.Symbol>();
  for (const entry of ENTRIES) {
    const module = checker.getSymbolAtLocation(program.getSourceFile(join(types, entry))!)!;
    for (const symbol of checker.getExportsOfModule(module)) exported.add(resolve(symbol));
  }
  const visited = new Set<ts.Symbol>(exported);
  const unnameable = new Map<string, string>();
  const visit = (node: ts.Node, via: string): void => {
    if (ts.isHeritageClause(node) && node.token === ts.SyntaxKind.ExtendsKeyword) {
      for (const base of node.types) {
        const symbol = checker.getSymbolAtLocation(base.expression);
        if (symbol) reach(resolve(symbol), via, true);
      }
      return;
    }
    const name = ts.isTypeReferenceNode(node)
      ? node.typeName
      : ts.isTypeQueryNode(node)
        ? node.exprName
        : ts.isExpressionWithTypeArguments(node)
          ? node.expression
          : undefined;
    const symbol = name && checker.getSymbolAtLocation(name);
    if (symbol) reach(resolve(symbol), via, false);
    if (ts.isClassDeclaration(node) || ts.isInterfaceDeclaration(node)) {
      for (const clause of node.heritageClauses ?? []) visit(clause, via);
      for (const member of node.members.filter(isPublic))
        visit(member, `${node.name?.text}.${member.name?.getText() ?? "constructor"}`);
      return;
    }
    ts.forEachChild(node, (child) => visit(child, via));
  };
  const reach = (symbol: ts.Symbol, via: string, asBase: boolean): void => {
    const declarations = (symbol.declarations ?? []).filter(ours);
    if (symbol.flags & ts.SymbolFlags.TypeParameter || declarations.length === 0 || visited.has(symbol))
      return;
    visited.add(symbol);
    if (!asBase) unnameable.set(symbol.name, via);
    for (const declaration of declarations) if (isPublic(declaration)) visit(declaration, symbol.name);
  };
  for (const symbol of exported)
    for (const declaration of (symbol.declarations ?? []).filter(ours)) visit(declaration, symbol.name);
  return unnameable;
}

test("every type reachable from the installed package's exports is one its entry points export", () => {
  const found = unnameableTypes(join(project, "node_modules/ivsh/types/"));
  expect(Object.fromEntries(found)).toEqual({});
});

// What the test above checks, as a user meets it: the types a public member has can be written down, and
// the internals are not offered (each @ts-expect-error fails the check if the member is still declared).
const CONSUMER = `import { type Client, connect, type ErrorCodeName, IvshError, type Mutex } from "ivsh";
import { ChannelReceiver, ChannelSender } from "ivsh/channel";

export function codeOf(error: IvshError): ErrorCodeName {
  return error.code;
}

export async function internals(client: Client, mutex: Mutex): Promise<string> {
  const receiver = await ChannelReceiver.open(client, "named");
  const sender = await ChannelSender.open(client, "named");
  // @ts-expect-error internal
  void client.parker;
  // @ts-expect-error internal
  void client.geometry;
  // @ts-expect-error internal
  void client.transport;
  // @ts-expect-error internal
  void receiver.ring;
  // @ts-expect-error internal
  void sender.slot;
  return \`\${mutex.name} \${receiver.name} \${sender.records} \${(await connect()).clientId}\`;
}
`;

/** A user's `tsc --strict` (NodeNext, the library's own declarations checked) of `source` as NAME.ts. */
async function userTsc(name: string, source: string) {
  writeFileSync(join(project, `${name}.ts`), source);
  const config = join(project, `tsconfig.${name}.json`);
  const compilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: false,
    target: "ESNext",
    module: "NodeNext",
    types: [],
  };
  writeFileSync(config, JSON.stringify({ compilerOptions, files: [`${name}.ts`] }));
  return await run([TSC, "-p", config], { cwd: project });
}

// Each runs the user's tsc, up to 8 s on a loaded machine: past bun's 5 s for a test without its own budget
// when the file is run alone (`bun test FILE` does not read bunfig's timeout).
test(
  "a user's tsc --strict names the public members' types and is offered none of the internals",
  async () => {
    const checked = await userTsc("consumer", CONSUMER);
    expect(checked.exitCode, checked.output).toBe(0);
  },
  INSTALL_MS,
);

// The constructors the library calls for its user (connect() makes the Client, alloc() the Segment,
// mutex() and condvar() the locks) are internal, and stripInternal left them out of the declarations: a
// class that declares none has TypeScript's `constructor()`, so `new Client()` type-checked and failed when
// it ran. The declarations keep them, as private: each `new` below must be refused.
const CONSTRUCTS = `import { Client, CondVar, IvshError, Mutex, Segment } from "ivsh";
import { ChannelReceiver, ChannelSender } from "ivsh/channel";

// @ts-expect-error made by connect()
export const client = new Client();
// @ts-expect-error made by client.alloc() and client.open()
export const segment = new Segment();
// @ts-expect-error made by client.mutex()
export const mutex = new Mutex();
// @ts-expect-error made by client.condvar()
export const condvar = new CondVar();
// @ts-expect-error made by ChannelSender.open()
export const sender = new ChannelSender();
// @ts-expect-error made by ChannelReceiver.open()
export const receiver = new ChannelReceiver();
// @ts-expect-error a class the user's own code cannot make one of through a subclass either
export class Mine extends Mutex {}
export const error = new IvshError("Timeout", "an error a user may raise");
`;

test(
  "a user's tsc refuses new Client(), new Segment(), new Mutex() and the other classes the library makes",
  async () => {
    const checked = await userTsc("constructs", CONSTRUCTS);
    expect(checked.exitCode, checked.output).toBe(0);
  },
  INSTALL_MS,
);

/** The text of each string and template literal in `file` (a template's pieces one by one). */
function literals(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteralLike(node) || ts.isTemplateLiteralToken(node)) found.push(node.text);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

// Messages told an installed library's user (a device not found, a guest without its bridge) to see what
// "scripts/qemu/launch.sh" does, and `ivsh bench --vm` that it was "not found (run ivsh bench from the
// repository)": the package ships no scripts/qemu (the launcher builds VM images from a checkout: dist/ivsh,
// build/qemu). Such a message now says where the file is.
test("a message that names one of ivsh's scripts the package does not ship says it is in the source repository", () => {
  const installed = join(project, "node_modules/ivsh");
  const sources = readdirSync(join(installed, "src"), { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".ts"))
    .map((file) => join(installed, "src", file));
  // Words, not a path the code opens ("../../scripts/qemu/launch.sh").
  const messages = sources.flatMap(literals).filter((text) => /\s/.test(text));
  const unsaid = messages.filter((text) =>
    [...text.matchAll(/\bscripts\/[\w./-]*\w/g)].some(
      ([path]) => !existsSync(join(installed, path)) && !text.includes("ivsh's source repository"),
    ),
  );
  expect(messages.some((text) => text.includes("scripts/qemu/launch.sh"))).toBe(true);
  expect(unsaid).toEqual([]);
});

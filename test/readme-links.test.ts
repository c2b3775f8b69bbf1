/**
 * The README is shipped in the npm package, and read there (node_modules/ivsh/README.md, the registry's
 * page): its relative links lead into the package. It linked scripts/qemu/README.md, which the package
 * does not ship, without a word. Every relative link must lead to a file of the checkout that the package
 * ships (package.json "files") or lie under a path the README itself names as the source checkout's only.
 */
import { expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./helpers/paths.ts";

const readme = readFileSync(join(REPO, "README.md"), "utf8");
const { files } = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { files: string[] };

/** Every relative link's path ([text](path#anchor), ![image](path)), without its anchor. */
const links = [...readme.matchAll(/\]\(([^)\s]+)\)/g)]
  .map((match) => match[1]!.replace(/#.*$/, ""))
  .filter((target) => target !== "" && !/^[a-z]+:/i.test(target));

/**
 * What the README says lies in the source checkout only: the code spans of its sentence saying so
 * ("The npm package ships ... the links here into `A` and `B` lead to files of the source checkout only.").
 */
function checkoutOnly(): string[] {
  const sentence = /The npm package ships[\s\S]*?lead\s+to files of the source checkout only\./.exec(
    readme,
  )?.[0];
  const named = sentence?.slice(sentence.indexOf("the links here into")) ?? "";
  return [...named.matchAll(/`([^`]+)`/g)].map((match) => match[1]!);
}

/** Whether the package ships `path`: an entry of "files" names it or a directory above it. */
function shipped(path: string): boolean {
  return ["README.md", "LICENSE", "package.json", ...files].some(
    (entry) => path === entry || path.startsWith(`${entry}/`),
  );
}

test("the README has relative links, each to a file of the checkout", () => {
  expect(links.length).toBeGreaterThan(10);
  expect(links.filter((link) => !existsSync(join(REPO, link)))).toEqual([]);
});

test("each relative link of the README is to a file the package ships, or one it says is the checkout's only", () => {
  const only = checkoutOnly();
  const unmarked = links.filter(
    (link) => !shipped(link) && !only.some((prefix) => link === prefix || link.startsWith(prefix)),
  );
  expect(unmarked).toEqual([]);
  expect(only).toContain("scripts/qemu/");
  // A path named checkout-only must not be one the package ships (the sentence would be wrong).
  expect(only.filter((prefix) => shipped(prefix.replace(/\/$/, "")))).toEqual([]);
});

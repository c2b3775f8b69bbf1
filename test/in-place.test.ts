/**
 * src/region/in-place.ts: the watches' answer for a name they cannot look at. Only ENOENT and ENOTDIR say the
 * file is gone; a system call refused otherwise (EACCES: the directory made unsearchable) leaves it in place;
 * anything thrown without an errno is a bug and is thrown on, to be reported as one, not read as "in place".
 */
import { expect, test } from "bun:test";
import { inPlaceUnlessGone } from "../src/region/in-place.ts";

const refused = (code: string) => () => {
  throw Object.assign(new Error(`${code}: refused`), { code });
};

test("a name looked at answers for itself; ENOENT and ENOTDIR are gone; EACCES or ELOOP leave it in place", () => {
  expect([true, false].map((answer) => inPlaceUnlessGone(() => answer))).toEqual([true, false]);
  expect(["ENOENT", "ENOTDIR", "EACCES", "ELOOP"].map((code) => inPlaceUnlessGone(refused(code)))).toEqual([
    false,
    false,
    true,
    true,
  ]);
});

test("an error that no system call gave (a bug in the look) is thrown on, not taken for a file in place", () => {
  expect(() =>
    inPlaceUnlessGone(() => {
      throw new TypeError("stats is undefined");
    }),
  ).toThrow("stats is undefined");
});

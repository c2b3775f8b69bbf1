/**
 * Users' and groups' names for messages (src/accounts.ts): "NAME (uid N)" where /etc/passwd or /etc/group
 * names the id, and the bare number where they do not, never "undefined (uid N)".
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { groupName, userName } from "../src/accounts.ts";

/** An id neither file lists (ids there are small; this one is checked to be absent). */
function unlistedId(): number {
  const listed = new Set(
    ["/etc/passwd", "/etc/group"].flatMap((file) =>
      readFileSync(file, "utf8")
        .split("\n")
        .map((line) => line.split(":")[2]),
    ),
  );
  let id = 3_999_999;
  while (listed.has(String(id))) id++;
  return id;
}

test("an id the account files list is named, one they do not list is the bare number", () => {
  expect(userName(0)).toBe("root (uid 0)");
  expect(groupName(0)).toBe("root (gid 0)");
  const id = unlistedId();
  expect(userName(id)).toBe(`uid ${id}`);
  expect(groupName(id)).toBe(`gid ${id}`);
});

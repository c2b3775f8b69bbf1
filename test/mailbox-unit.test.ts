/**
 * The wake mailbox's own rules (src/region/mailbox.ts), in this process: a PCI BAR's write-combining view
 * (resource2_wc) shares the mailbox of the plain one, and a sleep on a mailbox someone truncated returns as
 * "changed" (the caller looks again) instead of throwing.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, truncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mailboxPath, WakeMailbox } from "../src/region/mailbox.ts";

const directory = mkdtempSync(join(tmpdir(), "mailbox-unit-"));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

test("a BAR's _wc file and its plain file share one mailbox: a guest's clients may map either", () => {
  const bar = "/sys/bus/pci/devices/0000:00:04.0/resource2";
  expect(mailboxPath(`${bar}_wc`)).toBe(mailboxPath(bar));
  expect(mailboxPath(bar)).toMatch(/\/ivsh-wake-[0-9a-f]{8}$/);
});

test("a sleep on a mailbox truncated under it returns 'changed' (the caller looks again), not an EFAULT", () => {
  const mailbox = WakeMailbox.open(join(directory, "region"), 4);
  expect(mailbox).toBeDefined();
  try {
    truncateSync(mailbox!.path, 0);
    expect(mailbox!.sleep(0, 0, 1000)).toBe("changed");
  } finally {
    mailbox!.close();
    rmSync(mailbox!.path, { force: true });
  }
});

/**
 * The wake mailbox's file (src/region/mailbox.ts), in this process: it is made whole pages big enough for
 * every slot's words and only ever grown, so a sleep on any word really sleeps (a file too short would
 * make every sleep return at once, "changed", and parking a busy loop until its slice ends); a file
 * someone truncated is grown back by the next load; a guest's device gets its mailbox in /dev/shm. It is
 * every user's (0666 whatever the umask: any of them may park), a link planted at its name is refused, and
 * close() leaves no mapping of it behind. A mailbox that cannot be made (8 PiB: EFBIG where no file may be
 * that big, else ENOMEM from mmap, beyond the address space) is refused with its descriptor closed.
 */
import { afterAll, expect, test } from "bun:test";
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MAILBOX_WORDS_PER_SLOT, PAGE_SIZE } from "../src/region/layout.ts";
import { mailboxPath, WakeMailbox } from "../src/region/mailbox.ts";

const directory = mkdtempSync(join(tmpdir(), "mailbox-file-size-"));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

let serial = 0;

function opened(slotCount: number, region = join(directory, `region-${serial++}`)): WakeMailbox {
  const mailbox = WakeMailbox.open(region, slotCount);
  if (!mailbox) throw new Error("no mailbox in this kernel (no /proc?)");
  return mailbox;
}

/** The last word of `slotCount` slots. */
const lastWord = (slotCount: number) => slotCount * MAILBOX_WORDS_PER_SLOT - 1;

test("the file holds every slot's words, in whole pages, and a sleep on the last word sleeps its time", () => {
  const slots = 1000; // 8000 bytes: two pages
  const mailbox = opened(slots);
  try {
    expect(statSync(mailbox.path).size).toBe(2 * PAGE_SIZE);
    const seen = mailbox.load(lastWord(slots));
    expect(mailbox.sleep(lastWord(slots), seen, 20)).toBe("timed-out");
    expect(mailbox.sleep(0, mailbox.load(0), 20)).toBe("timed-out");
  } finally {
    mailbox.close();
  }
});

test("a load reads the word as wakes bumped it: a sleep on that value sleeps, on an older one returns", () => {
  const mailbox = opened(4);
  try {
    mailbox.wake(6, 1);
    mailbox.wake(6, 1);
    expect(mailbox.load(6)).toBe(2);
    expect(mailbox.sleep(6, 2, 20)).toBe("timed-out");
    expect(mailbox.sleep(6, 1, 20)).toBe("changed");
  } finally {
    mailbox.close();
  }
});

test("a second region of the same file with fewer slots does not shrink it; with more, grows it", () => {
  const region = join(directory, "shared-region");
  const first = opened(2000, region);
  try {
    const smaller = opened(10, region);
    smaller.close();
    expect(statSync(first.path).size).toBe(4 * PAGE_SIZE);
    const larger = opened(3000, region);
    larger.close();
    expect(statSync(first.path).size).toBe(6 * PAGE_SIZE);
  } finally {
    first.close();
  }
});

test("a load on a mailbox someone truncated grows it back: the sleep after it sleeps, not 'changed'", () => {
  const mailbox = opened(4);
  try {
    mailbox.wake(3, 1); // the word is 1 now
    truncateSync(mailbox.path, 0);
    expect(mailbox.load(3)).toBe(0);
    expect(statSync(mailbox.path).size).toBe(PAGE_SIZE);
    expect(mailbox.sleep(3, 0, 20)).toBe("timed-out");
  } finally {
    mailbox.close();
  }
});

test("a guest's device has its mailbox in /dev/shm, the first of its places", () => {
  expect(mailboxPath("/sys/bus/pci/devices/0000:00:05.0/resource2")).toMatch(
    /^\/dev\/shm\/ivsh-wake-[0-9a-f]{8}$/,
  );
});

test("the file is made 0666 under a umask of 022: every user of this kernel may park", () => {
  const before = process.umask(0o022);
  try {
    const mailbox = opened(4);
    mailbox.close();
    expect(statSync(mailbox.path).mode & 0o777).toBe(0o666);
  } finally {
    process.umask(before);
  }
});

test("a symbolic link at the mailbox's name is refused, its target left as it was", () => {
  const region = join(directory, "linked-region");
  const target = join(directory, "target");
  writeFileSync(target, "");
  symlinkSync(target, `${region}.wake`);
  expect(() => WakeMailbox.open(region, 4)).toThrow("ELOOP");
  expect(statSync(target).size).toBe(0);
});

test("close() unmaps the mailbox: no mapping of its file is left in this process", () => {
  const mailbox = opened(4);
  const mapped = () => readFileSync("/proc/self/maps", "utf8").includes(mailbox.path);
  expect(mapped()).toBe(true);
  mailbox.close();
  expect(mapped()).toBe(false);
});

test("a mailbox too big to make is refused (EFBIG or ENOMEM), its descriptor closed", () => {
  const before = readdirSync("/proc/self/fd").length;
  expect(() => WakeMailbox.open(join(directory, "huge-region"), 2 ** 50)).toThrow(/EFBIG|ENOMEM/);
  expect(readdirSync("/proc/self/fd").length).toBe(before);
});

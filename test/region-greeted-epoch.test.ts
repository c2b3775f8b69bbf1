/**
 * The header's greetedUpTo is the arbiter's of one epoch: a value another start left (an arbiter of this
 * version before an older one was started on the region, which bumps the epoch but never writes the word,
 * while its state goes on giving higher ids) said nothing about this arbiter's clients, yet every new client
 * was refused RegionInvalid as if it mapped a copy. checkGeometry (src/guest/connect-options.ts) on fixed
 * inputs, the header words real.
 */
import { expect, test } from "bun:test";
import { checkGeometry } from "../src/guest/served-geometry.ts";
import type { Reply } from "../src/protocol/messages.ts";
import { greetedUpTo, noteGreeted, startGreeting } from "../src/region/header.ts";
import { Header } from "../src/region/layout.ts";
import type { MappedRegion } from "../src/region/mapping.ts";
import { expectFailure } from "./helpers/errors.ts";
import { SCRIPTED_GEOMETRY, SCRIPTED_INSTANCE } from "./helpers/scripted-region.ts";

const geometry = SCRIPTED_GEOMETRY;
const INSTANCE = SCRIPTED_INSTANCE;
const EPOCH = 4;

function region(words: Int32Array): MappedRegion {
  const header = { ...geometry, epoch: EPOCH, arbiterInstance: INSTANCE, arbiterPid: 4321 };
  return {
    readHeader: () => header,
    headerWords: () => words,
    size: geometry.regionSize,
    source: "/dev/shm/scripted",
  } as unknown as MappedRegion;
}

const hello = (clientId: number) =>
  ({
    ...geometry,
    clientId,
    epoch: EPOCH,
    arbiterInstance: INSTANCE,
    arbiterPid: 4321,
  }) as unknown as Reply<"hello">;
const endpoint = { unix: "/run/ivsh/scripted.sock" };

test("greetedUpTo left by the arbiter of an earlier epoch is none: a client greeted above it is taken", () => {
  const words = new Int32Array(1024);
  noteGreeted(words, 5, EPOCH - 1);
  // Before: RegionInvalid "it greeted this client as 9, the region says it greeted none above 5".
  expect(checkGeometry(region(words), hello(9), endpoint)).toEqual(geometry);
});

test("greetedUpTo of this epoch below the client's id: still refused as a copy", () => {
  const words = new Int32Array(1024);
  noteGreeted(words, 5, EPOCH);
  expectFailure(
    () => checkGeometry(region(words), hello(9), endpoint),
    "RegionInvalid",
    /it greeted this client as 9, the region says it greeted none above 5\): a copy of the region file/,
  );
  noteGreeted(words, 9, EPOCH);
  expect(checkGeometry(region(words), hello(9), endpoint)).toEqual(geometry);
});

test("the first greeting of an epoch replaces an earlier epoch's higher value; later ones only raise it", () => {
  const words = new Int32Array(1024);
  noteGreeted(words, 500, EPOCH - 1);
  noteGreeted(words, 3, EPOCH); // a resumed session's old id, first after a restart
  expect(greetedUpTo(words, EPOCH)).toBe(3);
  noteGreeted(words, 2, EPOCH);
  expect(greetedUpTo(words, EPOCH)).toBe(3);
  // A word overwritten alone (any guest can write the header) says none rather than refuse every client.
  Atomics.store(words, Header.greetedUpTo >> 2, 1);
  expect(greetedUpTo(words, EPOCH)).toBeUndefined();
});

test("an arbiter's start says it greeted none yet: a mapping frozen before any hello of its epoch is refused", () => {
  const words = new Int32Array(1024);
  noteGreeted(words, 40, EPOCH - 1);
  startGreeting(words, EPOCH);
  expect(greetedUpTo(words, EPOCH)).toBe(0);
  // A guest's header page copied at its first write (share=off) keeps this 0: its clients are refused.
  expectFailure(
    () => checkGeometry(region(words), hello(1), endpoint),
    "RegionInvalid",
    /it greeted this client as 1, the region says it greeted none above 0\)/,
  );
  noteGreeted(words, 1, EPOCH);
  expect(checkGeometry(region(words), hello(1), endpoint)).toEqual(geometry);
});

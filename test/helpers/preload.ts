/**
 * Loaded by bun before every test file (bunfig.toml): a test file's first test starts only once the
 * processes earlier files left running are gone (./reaper.ts).
 */
import { beforeEach } from "bun:test";
import { reapLeftovers } from "./reaper.ts";

beforeEach(reapLeftovers);

/**
 * Loaded by bun before every test file (bunfig.toml): a test file's first test starts only once the
 * processes earlier files left running are gone (./reaper.ts), and the last file's are killed after it.
 */
import { afterAll, beforeEach } from "bun:test";
import { killAll, reapLeftovers } from "./reaper.ts";

beforeEach(reapLeftovers);
afterAll(killAll);

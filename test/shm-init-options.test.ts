/**
 * shm_init() called again while connected: it returns this process's uid when the options name what it is
 * connected to, however written (the environment, relative or absolute paths, `..` as the kernel reads it),
 * and refuses other options, saying what each call named. Split out of shm.test.ts (over 400 lines).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { relative } from "node:path";
import { DEFAULT_REGION } from "../src/defaults.ts";
import { shm_finish, shm_init } from "../src/guest/shm.ts";
import { expectRejection } from "./helpers/errors.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";
import { testUnless } from "./helpers/tools.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("shm-init-options");
  arbiter = await ArbiterProcess.start(paths);
});
afterAll(async () => {
  await shm_finish();
  await arbiter?.stop();
  paths?.cleanup();
});

// Found by a package trial: after a shm_init() with no options, a call naming another arbiter was told
// "connected already, with other options ({})": the connection's options, as if they were this call's.
// A review: the variables named left out IVSH_CONNECT, the one a guest reaches the arbiter by (README).
test("other options refused after a shm_init() with none say what each call named", async () => {
  await shm_finish();
  const saved = { IVSH_SOCKET: process.env.IVSH_SOCKET, IVSH_REGION: process.env.IVSH_REGION };
  Object.assign(process.env, { IVSH_SOCKET: paths.socket, IVSH_REGION: paths.region });
  try {
    await shm_init();
  } finally {
    for (const [key, value] of Object.entries(saved))
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
  }
  const elsewhere = `${paths.dir}/elsewhere.sock`;
  await expectRejection(
    shm_init({ socket: elsewhere }),
    "InvalidArgument",
    new RegExp(
      `connected already, with other options \\(its shm_init\\(\\) named none: IVSH_SOCKET / IVSH_REGION / IVSH_CONNECT, else the defaults; this call names \\{"socket":"${elsewhere}"\\}\\): call shm_finish\\(\\) first`,
    ),
  );
  await shm_finish();
});

// Found by a review: options were compared as written, so a shm_init() that took its socket from
// IVSH_SOCKET, then one naming that same socket, was refused as "other options"; so was the socket or
// region named once relative, once absolute. What they resolve to is compared.
test("shm_init() naming the socket and region it is connected to, however written, returns its uid", async () => {
  await shm_finish();
  const saved = { IVSH_SOCKET: process.env.IVSH_SOCKET, IVSH_REGION: process.env.IVSH_REGION };
  Object.assign(process.env, { IVSH_SOCKET: paths.socket, IVSH_REGION: paths.region });
  let uid: number;
  try {
    uid = await shm_init();
  } finally {
    for (const [key, value] of Object.entries(saved))
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
  }
  const relativeSocket = relative(process.cwd(), paths.socket);
  expect(await shm_init({ socket: paths.socket })).toBe(uid);
  expect(await shm_init({ socket: relativeSocket, region: paths.region })).toBe(uid);
  expect(
    await shm_init({ socket: `${paths.dir}//arbiter.sock`, region: relative(process.cwd(), paths.region) }),
  ).toBe(uid);
  await expectRejection(
    shm_init({ socket: relativeSocket, region: `${paths.shmDir}/another-region` }),
    "InvalidArgument",
    /connected already, with other options/,
  );
  // Not the same socket: a path with a trailing slash names a directory's contents, and connect() fails on it.
  await expectRejection(
    shm_init({ socket: `${paths.socket}/` }),
    "InvalidArgument",
    /connected already, with other options/,
  );
  await shm_finish();
});

// Found by a second review: paths were made absolute by path.resolve(), whose ".." is lexical, so a call
// naming DIR/link/../arbiter.sock, where link is a directory elsewhere (the kernel's ".." is the target's
// parent), was taken for the DIR/arbiter.sock this process is connected to, and returned its uid.
test("shm_init() naming a socket or region through a symlink's '..' is not taken for the one beside the link", async () => {
  await shm_finish();
  for (const dir of [paths.dir, paths.shmDir]) {
    mkdirSync(`${dir}/elsewhere/inner`, { recursive: true });
    symlinkSync(`${dir}/elsewhere/inner`, `${dir}/link`);
  }
  await shm_init({ socket: paths.socket, region: paths.region });
  const throughLink = `${relative(process.cwd(), paths.dir)}/link/../arbiter.sock`;
  for (const socket of [`${paths.dir}/link/../arbiter.sock`, throughLink])
    await expectRejection(shm_init({ socket }), "InvalidArgument", /connected already, with other options/);
  await expectRejection(
    shm_init({ socket: paths.socket, region: `${paths.shmDir}/link/../region` }),
    "InvalidArgument",
    /connected already, with other options/,
  );
  await shm_finish();
});

// Left open by an earlier session: only a ".." was read as the kernel reads it, so the socket and region
// this process is connected to, named through a symlinked directory (DIR/self/arbiter.sock, self -> DIR),
// were refused as "other options". Files that really differ still are, through a link or not.
test("shm_init() naming its socket and region through a symlinked directory returns its uid", async () => {
  await shm_finish();
  for (const dir of [paths.dir, paths.shmDir]) {
    symlinkSync(dir, `${dir}/self`);
    mkdirSync(`${dir}/other`);
    symlinkSync(`${dir}/other`, `${dir}/to-other`);
  }
  writeFileSync(`${paths.dir}/other/arbiter.sock`, "not the arbiter's socket");
  writeFileSync(`${paths.shmDir}/other/region`, "not the region");
  const uid = await shm_init({ socket: paths.socket, region: paths.region });
  expect(
    await shm_init({ socket: `${paths.dir}/self/arbiter.sock`, region: `${paths.shmDir}/self/region` }),
  ).toBe(uid);
  expect(await shm_init({ socket: relative(process.cwd(), `${paths.dir}/self/arbiter.sock`) })).toBe(uid);
  for (const options of [
    { socket: `${paths.dir}/to-other/arbiter.sock` },
    { socket: `${paths.dir}/self/another.sock` },
    { socket: paths.socket, region: `${paths.shmDir}/to-other/region` },
  ])
    await expectRejection(shm_init(options), "InvalidArgument", /connected already, with other options/);
  await shm_finish();
});

// Found by a second review: a path through a symlinked directory was resolved only while its file existed,
// so the same options, given again while the arbiter was stopped (its socket removed) and the client
// waited for it to come back, were refused as "other options".
test("shm_init() given its options again while the arbiter is stopped returns its uid", async () => {
  await shm_finish();
  symlinkSync(paths.dir, `${paths.dir}/again`);
  const options = {
    socket: `${paths.dir}/again/arbiter.sock`,
    region: paths.region,
    reconnectTimeoutMs: 30_000,
  };
  const uid = await shm_init(options);
  await arbiter.stop();
  try {
    expect(existsSync(paths.socket)).toBe(false); // what made the difference
    expect(await shm_init(options)).toBe(uid);
  } finally {
    await arbiter.restart();
  }
  await shm_finish();
});

// Found by a second review: a relative socket given again after a process.chdir() names another file, and
// is refused, but the refusal quoted the two calls' options alike, leaving the caller to guess what differed.
test("the same relative options refused after a chdir() say where each call's paths lead", async () => {
  await shm_finish();
  const home = process.cwd();
  const options = { socket: "arbiter.sock", region: paths.region };
  process.chdir(paths.dir);
  try {
    await shm_init(options);
    process.chdir(paths.shmDir);
    await expectRejection(
      shm_init(options),
      "InvalidArgument",
      new RegExp(
        `this call names \\{"socket":"arbiter\\.sock",.*\\}, the same words, which now lead to ${paths.shmDir}/arbiter\\.sock with the region ${paths.region}, not ${paths.dir}/arbiter\\.sock with the region ${paths.region} \\(the working directory`,
      ),
    );
  } finally {
    process.chdir(home);
  }
  await shm_finish();
});

/** A client given no region maps the default one when it exists: the test below needs it absent. */
const defaultRegionInTheWay = existsSync(DEFAULT_REGION)
  ? `${DEFAULT_REGION} exists on this machine, and a client given no region maps it`
  : undefined;

testUnless(
  defaultRegionInTheWay,
  "a region named after a shm_init() that left it to the arbiter is compared with the region it serves",
  async () => {
    await shm_finish();
    const uid = await shm_init({ socket: paths.socket }); // the arbiter says which region
    expect(await shm_init({ socket: paths.socket, region: relative(process.cwd(), paths.region) })).toBe(uid);
    await expectRejection(
      shm_init({ socket: paths.socket, region: `${paths.shmDir}/another-region` }),
      "InvalidArgument",
      /connected already, with other options/,
    );
    await shm_finish();
  },
);

// Found by a review: a client name of any length connects (cut for the hello), but shm_init() refusing
// another then quoted both calls' options whole: two names of 2 MB made an error of 4 MB.
test("other options refused quote a long client name cut, not whole", async () => {
  await shm_finish();
  await shm_init({ socket: paths.socket, region: paths.region, name: "n".repeat(2_000_000) });
  const refused = shm_init({ socket: paths.socket, region: paths.region, name: "m".repeat(2_000_000) });
  await expectRejection(
    refused,
    "InvalidArgument",
    /"name":"n{77}\.\.\."}; this call names .*"name":"m{77}\.\.\."}\)/,
  );
  expect(((await refused.catch((error: Error) => error)) as Error).message.length).toBeLessThan(1000);
  await shm_finish();
});

// Only a timeout (no socket, tcp, region or name) was refused as "other options", quoting options it never gave.
test("shm_init() naming no arbiter, region or client name returns this process's uid, as with no options", async () => {
  await shm_finish();
  const uid = await shm_init({ socket: paths.socket, region: paths.region, name: "timeouts-only" });
  expect(await shm_init({ reconnectTimeoutMs: 5000 })).toBe(uid);
  expect(await shm_init({ connectTimeoutMs: 5000, futexParking: true })).toBe(uid);
  await expectRejection(
    shm_init({ name: "another-name" }),
    "InvalidArgument",
    /connected already, with other options/,
  );
  await shm_finish();
});

// Found by a third review: two names alike in the 77 characters quoted, differing after, were refused with
// "the same words, which now lead to" the very socket and region of the first call, and "the working
// directory ... changed since": untrue of both. What differs is said: the names, past the part quoted.
test("names alike as quoted but different are refused as such, not as paths that lead elsewhere", async () => {
  await shm_finish();
  const where = { socket: paths.socket, region: paths.region };
  await shm_init({ ...where, name: `${"n".repeat(100)}-first` });
  const refused = shm_init({ ...where, name: `${"n".repeat(100)}-second` });
  await expectRejection(
    refused,
    "InvalidArgument",
    /"name":"n{77}\.\.\."}, alike as quoted, but the client names differ past the part quoted\): call shm_finish\(\) first/,
  );
  expect(((await refused.catch((error: Error) => error)) as Error).message).not.toContain("lead to");
  await shm_finish();
});

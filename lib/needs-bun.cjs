// What Node loads for the package's entry points (package.json "require"; lib/needs-bun.mjs, the
// "default", runs this first): the library maps shared memory and parks on futexes through bun:ffi, which
// only Bun has. CommonJS, so that a require() on a Node without require(esm) (before 20.19 and 22.12) gets
// this error too, not Node's ERR_REQUIRE_ESM.
throw new Error(
  "Failed to load ivsh since it runs on Bun (it maps shared memory through bun:ffi) and this is not Bun: run your program with `bun` (https://bun.sh), e.g. `bun app.ts`",
);

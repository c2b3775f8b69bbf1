/** scripts/types.mjs, for the TypeScript that imports it (scripts/build.ts). */
export function buildTypes(force: boolean): boolean;

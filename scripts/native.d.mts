/** scripts/native.mjs, for the TypeScript that imports it (scripts/build.ts). */
export const NATIVE_OUTPUT: string;
export function buildNative(optional: boolean): boolean;

/**
 * What `ivsh --version` prints and `ivsh status` names as the arbiter's: the release and, in an executable
 * `npm run build` made, its build (scripts/build-name.ts): "0.1.0 (6b2c4b13e0aa 2026-12-07)". Run from
 * source (`bun src/cli.ts`, the npm package's bin), the release alone: its files are what is run.
 */
import packageJson from "../package.json" with { type: "json" };

/** Set by scripts/build.ts (bun build --define); not declared where ivsh runs from source. */
declare const IVSH_BUILD: string | undefined;

/** The build of this executable ("unknown" where it was built outside a git checkout); undefined from source. */
export const BUILD: string | undefined = typeof IVSH_BUILD === "string" ? IVSH_BUILD : undefined;

export const VERSION =
  BUILD === undefined
    ? packageJson.version
    : `${packageJson.version} (${BUILD === "unknown" ? "build unknown" : BUILD})`;

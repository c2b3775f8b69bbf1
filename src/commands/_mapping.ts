/**
 * The CLI's side of a guest's mapping probe (src/guest/probe.ts): the library only measures and returns
 * figures; a command warns when the mapping it is about to use measured slow, so a user who sees a slow
 * transfer knows it is the memory type and not the network or the disk; and when the emulator makes
 * cross-VM atomics unreliable (src/guest/emulation.ts).
 */
import { type ConnectOptions, mappingProbe } from "../guest/connect-options.ts";
import { atomicsHazard } from "../guest/emulation.ts";
import type { AccessSpeed, MappingProbe } from "../guest/probe.ts";
import { log } from "../log.ts";
import { formatRate } from "../units.ts";

/**
 * Runs (or reuses) the probe `connect()` will rely on and warns if the chosen mapping is slow, or if this
 * guest's emulator makes cross-VM atomics unreliable.
 */
export function warnIfSlowMapping(options: ConnectOptions): MappingProbe | undefined {
  const probe = mappingProbe(options);
  if (probe?.slow) log.warn(slowMappingWarning(probe));
  const hazard = probe ? atomicsHazard({ sysfsRoot: options.sysfsRoot }) : undefined;
  if (hazard) log.warn(hazard);
  return probe;
}

export function slowMappingWarning(probe: MappingProbe): string {
  const { chosen, anonymous, measured } = probe;
  const others = measured
    .filter((speed) => speed.resource !== chosen.resource)
    .map((speed) => `; ${speed.resource}: ${describeSpeed(speed)}`)
    .join("");
  return (
    `the shared region of IVSHMEM device ${probe.device} is slow to access: ${chosen.resource} (the faster ` +
    `mapping) ${describeSpeed(chosen)}, ${probe.slowdown.toFixed(0)}x slower than ordinary memory in this ` +
    `process (${describeSpeed(anonymous)})${others}. The BAR is most likely mapped uncached by the ` +
    "hypervisor, and transfers will be limited to about this speed."
  );
}

function describeSpeed(speed: AccessSpeed): string {
  return `write ${formatRate(speed.writeBytesPerSecond)}, read ${formatRate(speed.readBytesPerSecond)}`;
}

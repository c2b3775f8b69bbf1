/**
 * Where a client finds the region and the arbiter. An explicit region path wins; otherwise a guest uses
 * its IVSHMEM device and reaches the arbiter over TCP through its bridge; otherwise it is a host process
 * using the default region file and Unix socket.
 */
import { existsSync } from "node:fs";
import { DEFAULT_GUEST_ARBITER, DEFAULT_REGION, DEFAULT_SOCKET, DEFAULT_SYSFS } from "../defaults.ts";
import { failure } from "../errors.ts";
import type { Reply } from "../protocol/messages.ts";
import { type Geometry, sameGeometry } from "../region/layout.ts";
import { type MappedRegion, mapRegionFile } from "../region/mapping.ts";
import { findIvshmemDevices } from "./device.ts";
import { describeEndpoint, type Endpoint } from "./transport.ts";

export interface ConnectOptions {
  /** Unix socket of the arbiter (host processes). */
  socket?: string;
  /** "host:port" of the arbiter's bridge (guests; default 10.0.2.100:7777 when a device is found). */
  tcp?: string;
  /** Region file (host) or PCI resource file to map; default: the IVSHMEM device, else /dev/shm/ivsh. */
  region?: string;
  /** sysfs root to look for the device under (tests point this at a fake tree). */
  sysfsRoot?: string;
  /** Which BAR 2 mapping of the device to use. */
  resource?: "resource2" | "resource2_wc";
  /** Shown in `ivsh status`. */
  name?: string;
  /** How long to keep trying to reach a restarted arbiter before giving up. */
  reconnectTimeoutMs?: number;
}

export function parseHostPort(text: string): { hostname: string; port: number } {
  const match = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(text.trim());
  const port = Number(match?.[2]);
  if (!match || port < 1 || port > 65535)
    throw failure(
      "InvalidArgument",
      `parse the address '${text}'`,
      "it is not host:port (e.g. 10.0.2.100:7777)",
    );
  return { hostname: match[1]!, port };
}

export function resolveConnection(options: ConnectOptions): { region: MappedRegion; endpoint: Endpoint } {
  const regionPath = options.region ?? guestResource(options) ?? DEFAULT_REGION;
  const inGuest = !options.region && regionPath !== DEFAULT_REGION;
  let endpoint: Endpoint;
  if (options.socket) endpoint = { unix: options.socket };
  else if (options.tcp || inGuest) endpoint = parseHostPort(options.tcp ?? DEFAULT_GUEST_ARBITER);
  else endpoint = { unix: DEFAULT_SOCKET };
  if (!existsSync(regionPath))
    throw failure(
      "DeviceNotFound",
      `map the region ${regionPath}`,
      "it does not exist (start `ivsh host`, pass --region, or in a VM attach -device ivshmem-plain)",
    );
  return { region: mapRegionFile(regionPath), endpoint };
}

function guestResource(options: ConnectOptions): string | undefined {
  const device = findIvshmemDevices(options.sysfsRoot ?? DEFAULT_SYSFS)[0];
  if (!device) return undefined;
  if (options.resource === "resource2_wc" && device.resource2Wc) return device.resource2Wc;
  return device.resource2;
}

/** The geometry the arbiter announced, after checking that the mapped region says the same. */
export function checkGeometry(region: MappedRegion, hello: Reply<"hello">, endpoint: Endpoint): Geometry {
  const header = region.readHeader();
  const announced: Geometry = {
    regionSize: hello.regionSize,
    blockSize: hello.blockSize,
    blockCount: hello.blockCount,
    slotCount: hello.slotCount,
    slotOffset: header.slotOffset,
    dataOffset: hello.dataOffset,
  };
  if (!sameGeometry(header, announced) || header.epoch !== hello.epoch)
    throw failure(
      "RegionInvalid",
      `use ${region.source} with the arbiter at ${describeEndpoint(endpoint)}`,
      `the region's header (${header.regionSize} bytes, epoch ${header.epoch}) is not the region that arbiter serves ` +
        `(${hello.regionSize} bytes, epoch ${hello.epoch}); pass the matching --region`,
    );
  return announced;
}

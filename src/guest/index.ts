/**
 * The ivsh client library: what guests and host processes import. `connect()` is the way in.
 * @module ivsh
 */

export { ErrorCode, IvshError, isIvshError } from "../errors.ts";
export type { AccessModeName } from "../protocol/messages.ts";
export type {
  IntegrityStatus,
  SegmentFields,
  StatusClient,
  StatusReport,
  TransferStatus,
} from "../protocol/status-report.ts";
export { type AllocOptions, Client, type ConnectOptions } from "./client.ts";
export { connect } from "./connect.ts";
export { mappingProbe } from "./connect-options.ts";
export { findIvshmemDevice, findIvshmemDevices, type IvshmemDevice } from "./device.ts";
export type { AccessSpeed, MappingProbe, MappingSpeed, ResourceName } from "./probe.ts";
export { Segment } from "./segment.ts";
export { CondVar, type LockOutcome, Mutex, type WaitResult } from "./sync.ts";

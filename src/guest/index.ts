/**
 * The ivsh client library: what guests and host processes import. `connect()` is the way in:
 *
 * ```ts
 * import { connect } from "ivsh";
 *
 * const client = await connect(); // no options: IVSH_SOCKET / IVSH_REGION / IVSH_CONNECT, else the defaults
 * const board = await client.alloc(4096, { name: "board" }); // "write" unless a mode is given
 * board.bytes[0] = 1; // a Uint8Array over the shared memory itself
 * const lock = await client.mutex("board-lock");
 * await lock.lock();
 * board.bytes[1] = 2;
 * lock.unlock();
 * await board.free();
 * await client.close(); // releases what the client still holds
 * ```
 * @module ivsh
 */

export { ErrorCode, type ErrorCodeName, IvshError, isIvshError } from "../errors.ts";
export type { AccessModeName } from "../protocol/messages.ts";
export type {
  IntegrityStatus,
  JournalOutageReport,
  SegmentFields,
  StatusClient,
  StatusReport,
  TransferStatus,
} from "../protocol/status-report.ts";
export { type AllocOptions, Client, type ConnectOptions } from "./client.ts";
export { CondVar } from "./condvar.ts";
export { connect } from "./connect.ts";
export { mappingProbe } from "./connect-options.ts";
export { findIvshmemDevice, findIvshmemDevices, type IvshmemDevice } from "./device.ts";
export type { AccessSpeed, MappingProbe, MappingSpeed, ResourceName } from "./probe.ts";
export { Segment } from "./segment.ts";
export {
  type LockOutcome,
  Mutex,
  type UntimedWaitResult,
  type WaitOptions,
  type WaitResult,
} from "./sync.ts";

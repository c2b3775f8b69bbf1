/**
 * The region checked after a hello, the link possibly dropping meanwhile. A resumed session is good only in
 * the memory this client maps: the restarted arbiter wrote its header (a new epoch and instance) into the
 * region it serves before it listened, so a mapping that does not show it is of another file: the region
 * file was replaced (removed and made again) while the arbiter was away, and this client's writes and locks
 * would reach nobody else.
 */
import { IvshError, isIvshError } from "../errors.ts";
import type { Reply } from "../protocol/messages.ts";
import type { Geometry } from "../region/layout.ts";
import type { MappedRegion } from "../region/mapping.ts";
import { describeEndpoint, type Endpoint } from "./link-errors.ts";
import { settledGeometry } from "./served-geometry.ts";

/**
 * Throws RegionInvalid (final: the session cannot go on) unless `region` is the one `hello` describes;
 * `retired` says when the client was closed while this waited for an overwritten header to be put back.
 * Throws ConnectionLost (the resume is tried again) if `link` dropped meanwhile: its close found this
 * resume under way and started no other, and one taken for done would leave every request on no link.
 * A drop also ends the wait for the header: the arbiter that would put it back is gone (the next one
 * writes it at its start), so a header still overwritten then is no sign of another file.
 */
export async function checkResumedRegion(
  region: MappedRegion,
  hello: Reply<"hello">,
  link: { readonly endpoint: Endpoint; readonly connected: boolean },
  retired: () => boolean,
): Promise<void> {
  const { endpoint } = link;
  const dropped = () => !link.connected && !retired();
  try {
    await settledGeometry(region, hello, endpoint, undefined, () => retired() || dropped());
    if (dropped()) throw droppedDuringCheck();
  } catch (error) {
    if (dropped()) throw droppedDuringCheck(error);
    if (!isIvshError(error, "RegionInvalid")) throw error;
    const message =
      `Failed to resume the session with the arbiter at ${describeEndpoint(endpoint)} since the region it has ` +
      `served since its restart is not the one this client mapped from ${region.source} (that file was replaced ` +
      "while the arbiter was away): what this client held is gone, connect() again";
    throw new IvshError("RegionInvalid", message, { cause: error });
  }
}

/**
 * connect()'s check after its first hello (settledGeometry). A drop meanwhile fails the transport (no resume
 * is set up yet): that ends the wait for an overwritten header, and the loss is thrown, whatever the header
 * showed, so connect() tries again as after a drop during hello. The arbiter that would put the header back
 * is gone: waited on, it was refused as another file; the next arbiter's, as "served by another arbiter".
 */
export async function checkGreetedRegion(
  region: MappedRegion,
  hello: Reply<"hello">,
  link: { readonly endpoint: Endpoint; readonly lost: IvshError | undefined },
  signal: AbortSignal | undefined,
): Promise<Geometry> {
  const dropped = () => link.lost !== undefined;
  const geometry = await settledGeometry(region, hello, link.endpoint, signal, dropped).catch(
    (error: unknown) => {
      throw lostDuringCheck(link) ?? error;
    },
  );
  const lost = lostDuringCheck(link);
  if (lost) throw lost;
  return geometry;
}

/** The link's loss, a drop told as one after the hello's answer (the last try's, when connect() gives up). */
function lostDuringCheck(link: { readonly endpoint: Endpoint; readonly lost: IvshError | undefined }) {
  const { lost, endpoint } = link;
  if (!isIvshError(lost, "ConnectionLost")) return lost;
  const message =
    `Failed to connect to the arbiter at ${describeEndpoint(endpoint)} since the connection closed after it ` +
    "answered the hello, while the region was checked: the arbiter stopped, or restarted, meanwhile";
  return new IvshError("ConnectionLost", message, { cause: lost });
}

function droppedDuringCheck(cause?: unknown): IvshError {
  return new IvshError(
    "ConnectionLost",
    "Failed to resume the session since the connection closed while the region was checked",
    { cause },
  );
}

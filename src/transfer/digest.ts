/**
 * The end-to-end digest of a stream: xxHash3-64, chained record by record (each record's hash is
 * seeded with the previous one). xxHash3 runs at tens of GB/s in cache, far above the transfer rate, so
 * it never limits a transfer, and it catches any corruption or reordering of records; it is not a
 * cryptographic hash and does not defend against an attacker who can write the region.
 */
export class StreamDigest {
  private state = 0n;
  bytes = 0;
  records = 0;

  update(chunk: Uint8Array): void {
    this.state = Bun.hash.xxHash3(chunk, this.state);
    this.bytes += chunk.byteLength;
    this.records++;
  }

  get value(): bigint {
    return this.state;
  }

  get hex(): string {
    return formatDigest(this.state);
  }
}

export function formatDigest(digest: bigint): string {
  return `xxh3:${digest.toString(16).padStart(16, "0")}`;
}

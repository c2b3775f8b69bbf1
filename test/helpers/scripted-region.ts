/**
 * The geometry and arbiter instance of the scripted (fake) regions that the header-check tests hand to
 * checkGeometry / settledGeometry: one 4 MiB region of 1 000 blocks and 64 slots.
 */
export const SCRIPTED_GEOMETRY = {
  regionSize: 4 << 20,
  blockSize: 4096,
  blockCount: 1000,
  slotCount: 64,
  slotOffset: 4096,
  dataOffset: 8192,
};
export const SCRIPTED_INSTANCE = 0x1234_5678_9a;

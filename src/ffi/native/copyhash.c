/*
 * ivsh's one native helper: the channel digest (XXH3-64 chained over pieces), optionally copying the
 * data in the same pass.
 *
 * Why it exists: a channel's sender copies every byte into the ring and hashes it for the end-to-end
 * digest. Done as two passes (TypedArray.set, then Bun.hash.xxHash3) the copy waits on memory while the
 * hash waits on the vector units, one after the other; fused into one AVX2 loop the hash runs in the
 * shadow of the copy's memory traffic, so the sender moves data nearly at copy speed (`ivsh bench`,
 * "The digest" in docs/bench/results.md, has the figures).
 *
 * Each piece's hash is exactly XXH3_64bits_withSeed of the xxHash specification, long-input path (more
 * than 240 bytes), so a peer that hashes with Bun.hash.xxHash3 agrees bit for bit; test/native.test.ts
 * checks that for many lengths, seeds and alignments. Shorter pieces are the caller's.
 *
 * Built by scripts/build.ts; loaded by src/ffi/native.ts, which falls back to its portable path
 * when this library is missing, its ABI differs, or the CPU has no AVX2.
 */
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))
#define AVX2 __attribute__((target("avx2")))
/* Forced: each caller of hash_long must get its own copy, specialised for a known `destination`. */
#define INLINE __attribute__((always_inline)) static inline

/* Bumped whenever an exported signature or result changes; src/ffi/native.ts refuses any other. */
#define IVSH_NATIVE_ABI 5 /* 2: fault.c's ivsh_guard_region / ivsh_unguard_region; 3: ivsh_native_tcg;
                            4: ivsh_digest_pieces' hash_copy; 5: fault.c's ivsh_digest_pieces_from_file */

enum {
  STRIPE_BYTES = 64,
  SECRET_BYTES = 192,
  /* Each stripe of a block uses the secret 8 bytes further on. */
  SECRET_STEP = 8,
  STRIPES_PER_BLOCK = (SECRET_BYTES - STRIPE_BYTES) / SECRET_STEP,
  BLOCK_BYTES = STRIPES_PER_BLOCK * STRIPE_BYTES,
  /* Offsets into the secret for the last stripe and for merging, fixed by the specification. */
  LAST_STRIPE_SECRET = SECRET_BYTES - STRIPE_BYTES - 7,
  MERGE_SECRET = 11,
  /* How far ahead of the stripe being hashed its source is prefetched. */
  PREFETCH_AHEAD = 384,
};

/* The specification's default secret (XXH3_kSecret); a seed is mixed into it before use. */
static const uint8_t default_secret[SECRET_BYTES] = {
    0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
    0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f,
    0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
    0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c,
    0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3,
    0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8,
    0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d,
    0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64,
    0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb,
    0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e,
    0x2b, 0x16, 0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce,
    0x45, 0xcb, 0x3a, 0x8f, 0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
};

static const uint64_t PRIME32_1 = 0x9E3779B1U;
static const uint64_t PRIME32_2 = 0x85EBCA77U;
static const uint64_t PRIME32_3 = 0xC2B2AE3DU;
static const uint64_t PRIME64_1 = 0x9E3779B185EBCA87ULL;
static const uint64_t PRIME64_2 = 0xC2B2AE3D27D4EB4FULL;
static const uint64_t PRIME64_3 = 0x165667B19E3779F9ULL;
static const uint64_t PRIME64_4 = 0x85EBCA77C2B2AE63ULL;
static const uint64_t PRIME64_5 = 0x27D4EB2F165667C5ULL;
static const uint64_t AVALANCHE_PRIME = 0x165667919E3779F9ULL;

static uint64_t read64(const uint8_t *at) {
  uint64_t value;
  memcpy(&value, at, sizeof value);
  return value;
}

static void write64(uint8_t *at, uint64_t value) { memcpy(at, &value, sizeof value); }

/* The eight 64-bit accumulators, as two AVX2 registers. */
typedef struct {
  __m256i half[2];
} Accumulators;

/*
 * One 64-byte stripe: acc[i] += lo32(data[i] ^ key[i]) * hi32(data[i] ^ key[i]); acc[i ^ 1] += data[i].
 * With `destination`, the stripe is also stored there: the copy rides on the loads the hash makes anyway.
 */
AVX2 INLINE void accumulate_stripe(Accumulators *acc, uint8_t *destination, const uint8_t *source,
                                   const uint8_t *key) {
  /* The source is usually another core's freshly written lines; asking early overlaps their transfers
   * (in a C ring between two processes, during development: 12-14 GB/s without, 19-29 with). A prefetch past
   * the end of the buffer is harmless: it never faults. */
  __builtin_prefetch(source + PREFETCH_AHEAD, 0, 3);
  for (int part = 0; part < 2; part++) {
    __m256i data = _mm256_loadu_si256((const __m256i *)(source + 32 * part));
    if (destination) _mm256_storeu_si256((__m256i *)(destination + 32 * part), data);
    __m256i keyed = _mm256_xor_si256(data, _mm256_loadu_si256((const __m256i *)(key + 32 * part)));
    __m256i product = _mm256_mul_epu32(keyed, _mm256_shuffle_epi32(keyed, 0x31));
    __m256i neighbours = _mm256_shuffle_epi32(data, 0x4E);
    acc->half[part] = _mm256_add_epi64(acc->half[part], _mm256_add_epi64(product, neighbours));
  }
}

/* After each block: acc = (acc ^ (acc >> 47) ^ key) * PRIME32_1, per 64-bit lane. */
AVX2 static inline void scramble(Accumulators *acc, const uint8_t *key) {
  const __m256i prime = _mm256_set1_epi32((int)PRIME32_1);
  for (int part = 0; part < 2; part++) {
    __m256i value = acc->half[part];
    value = _mm256_xor_si256(value, _mm256_srli_epi64(value, 47));
    value = _mm256_xor_si256(value, _mm256_loadu_si256((const __m256i *)(key + 32 * part)));
    __m256i low = _mm256_mul_epu32(value, prime);
    __m256i high = _mm256_mul_epu32(_mm256_shuffle_epi32(value, 0x31), prime);
    acc->half[part] = _mm256_add_epi64(low, _mm256_slli_epi64(high, 32));
  }
}

static uint64_t multiply_fold(uint64_t left, uint64_t right) {
  unsigned __int128 product = (unsigned __int128)left * right;
  return (uint64_t)product ^ (uint64_t)(product >> 64);
}

static uint64_t avalanche(uint64_t hash) {
  hash ^= hash >> 37;
  hash *= AVALANCHE_PRIME;
  return hash ^ (hash >> 32);
}

/* The seed is added to the even and subtracted from the odd 64-bit words of the default secret. */
static void derive_secret(uint8_t secret[SECRET_BYTES], uint64_t seed) {
  for (int at = 0; at < SECRET_BYTES; at += 16) {
    write64(secret + at, read64(default_secret + at) + seed);
    write64(secret + at + 8, read64(default_secret + at + 8) - seed);
  }
}

static uint64_t merge(const uint64_t acc[8], const uint8_t *secret, uint64_t length) {
  uint64_t hash = length * PRIME64_1;
  for (int pair = 0; pair < 4; pair++) {
    const uint8_t *key = secret + MERGE_SECRET + 16 * pair;
    hash += multiply_fold(acc[2 * pair] ^ read64(key), acc[2 * pair + 1] ^ read64(key + 8));
  }
  return avalanche(hash);
}

/*
 * `length` > 240. `destination` may be NULL (hash only); otherwise it must not overlap `source`. The last 64
 * bytes are read twice: with `hash_copy` the second time from the copy (a receiver copying out of a ring
 * another guest may write hashes exactly what it copied), else from `source` (a sender copying into one).
 */
AVX2 INLINE uint64_t hash_long(uint8_t *destination, const uint8_t *source, size_t length, uint64_t seed,
                               int hash_copy) {
  uint8_t secret[SECRET_BYTES];
  derive_secret(secret, seed);
  const uint64_t initial[8] = {PRIME32_3, PRIME64_1, PRIME64_2, PRIME64_3,
                               PRIME64_4, PRIME32_2, PRIME64_5, PRIME32_1};
  Accumulators acc = {{_mm256_loadu_si256((const __m256i *)initial),
                       _mm256_loadu_si256((const __m256i *)(initial + 4))}};
  /* The last byte always belongs to a final, possibly partial, run of stripes. */
  size_t blocks = (length - 1) / BLOCK_BYTES;
  size_t at = 0;
  for (size_t block = 0; block < blocks; block++) {
    for (int stripe = 0; stripe < STRIPES_PER_BLOCK; stripe++, at += STRIPE_BYTES)
      accumulate_stripe(&acc, destination ? destination + at : NULL, source + at,
                        secret + stripe * SECRET_STEP);
    scramble(&acc, secret + SECRET_BYTES - STRIPE_BYTES);
  }
  size_t stripes = (length - 1 - at) / STRIPE_BYTES;
  for (size_t stripe = 0; stripe < stripes; stripe++, at += STRIPE_BYTES)
    accumulate_stripe(&acc, destination ? destination + at : NULL, source + at,
                      secret + stripe * SECRET_STEP);
  if (destination) memcpy(destination + at, source + at, length - at);
  /* The last 64 bytes again (overlapping what came before), with their own part of the secret. */
  const uint8_t *last = hash_copy && destination ? destination : source;
  accumulate_stripe(&acc, NULL, last + length - STRIPE_BYTES, secret + LAST_STRIPE_SECRET);
  uint64_t lanes[8];
  _mm256_storeu_si256((__m256i *)lanes, acc.half[0]);
  _mm256_storeu_si256((__m256i *)(lanes + 4), acc.half[1]);
  return merge(lanes, secret, length);
}

EXPORT int ivsh_native_abi(void) { return IVSH_NATIVE_ABI; }

/*
 * 1 if this CPU is QEMU's TCG emulator (its hypervisor leaf says "TCGTCGTCGTCG"), where a kernel copy from
 * user memory (`rep movsb` under ERMS) runs one emulated byte per step: a receiver then writes a file
 * through a pipe (src/ffi/splice.ts), whose copy the kernel makes with 8-byte moves.
 */
EXPORT int ivsh_native_tcg(void) {
  unsigned int eax, ebx, ecx, edx;
  __asm__ volatile("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(0x40000000u), "c"(0u));
  char vendor[13];
  memcpy(vendor, &ebx, 4);
  memcpy(vendor + 4, &ecx, 4);
  memcpy(vendor + 8, &edx, 4);
  vendor[12] = 0;
  return memcmp(vendor, "TCGTCGTCGTCG", 12) == 0 ? 1 : 0;
}

/* 1 if this CPU can run ivsh_digest_pieces; the caller must use its portable path otherwise. */
EXPORT int ivsh_native_usable(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") ? 1 : 0;
}

/*
 * The channel digest's inner loop (src/transfer/digest.ts): source[0 .. length) is cut into pieces of
 * `piece_bytes` (the last may be shorter) and each updates *state = XXH3-64(piece, seed = *state mod 2^32).
 * With a destination (not overlapping the source) each piece is also copied there, in the same pass, and
 * with `hash_copy` what is hashed is read only from what was copied (never the source again).
 *
 * It stops before a last piece of 240 bytes or less, which takes XXH3's short-input paths (not built
 * here), and returns how many bytes it did; the caller hashes the rest. One call per record keeps the
 * per-piece work out of JavaScript.
 */
AVX2 EXPORT uint64_t ivsh_digest_pieces(uint8_t *destination, const uint8_t *source, uint64_t length,
                                        uint64_t piece_bytes, uint64_t *state, int hash_copy) {
  uint64_t done = 0;
  uint64_t hash = *state;
  while (done < length) {
    uint64_t piece = length - done < piece_bytes ? length - done : piece_bytes;
    if (piece <= 240) break;
    /* Two call sites, each inlined with `destination` known: no copy test inside the hash-only loop (left
     * to the compiler, hash_long was one shared function that tested it per stripe: 29 GB/s, now ~45). */
    if (destination)
      hash = hash_long(destination + done, source + done, piece, hash & 0xffffffffu, hash_copy);
    else
      hash = hash_long(NULL, source + done, piece, hash & 0xffffffffu, 0);
    done += piece;
  }
  *state = hash;
  return done;
}

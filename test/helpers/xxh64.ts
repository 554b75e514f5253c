// XXH64 (seed 0) written out plainly with BigInt from the xxHash specification: the tests'
// own reference for the manifest's checksums, apart from the addon's implementation. Slow
// (a few MB/s), which is fine for test-sized files. Checked against values `xxhsum -H1`
// printed (XXH64_VECTORS).
const M = (1n << 64n) - 1n;
const P1 = 0x9e3779b185ebca87n;
const P2 = 0xc2b2ae3d27d4eb4fn;
const P3 = 0x165667b19e3779f9n;
const P4 = 0x85ebca77c2b2ae63n;
const P5 = 0x27d4eb2f165667c5n;

const rotl = (x: bigint, r: bigint) => ((x << r) | (x >> (64n - r))) & M;
const mul = (a: bigint, b: bigint) => (a * b) & M;
const add = (a: bigint, b: bigint) => (a + b) & M;
const lane = (acc: bigint, v: bigint) => mul(rotl(add(acc, mul(v, P2)), 31n), P1);

function read(b: Uint8Array, at: number, bytes: number): bigint {
  let v = 0n;
  for (let i = bytes - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[at + i]);
  return v;
}

export function xxh64(data: Uint8Array): string {
  const n = data.length;
  let at = 0;
  let h: bigint;
  if (n >= 32) {
    const v = [add(P1, P2), P2, 0n, (0n - P1) & M];
    for (; at + 32 <= n; at += 32) for (let k = 0; k < 4; k++) v[k] = lane(v[k], read(data, at + 8 * k, 8));
    h = add(add(rotl(v[0], 1n), rotl(v[1], 7n)), add(rotl(v[2], 12n), rotl(v[3], 18n)));
    for (const x of v) h = add(mul(h ^ lane(0n, x), P1), P4);
  } else {
    h = P5;
  }
  h = add(h, BigInt(n));
  for (; at + 8 <= n; at += 8) h = add(mul(rotl(h ^ lane(0n, read(data, at, 8)), 27n), P1), P4);
  if (at + 4 <= n) {
    h = add(mul(rotl(h ^ mul(read(data, at, 4), P1), 23n), P2), P3);
    at += 4;
  }
  for (; at < n; at++) h = mul(rotl(h ^ mul(BigInt(data[at]), P5), 11n), P1);
  h ^= h >> 33n;
  h = mul(h, P2);
  h ^= h >> 29n;
  h = mul(h, P3);
  h ^= h >> 32n;
  return h.toString(16).padStart(16, '0');
}

/** Bytes (7·i + 3) mod 256 for i < length. */
export function patternBytes(length: number): Uint8Array {
  const b = new Uint8Array(length);
  for (let i = 0; i < length; i++) b[i] = (7 * i + 3) & 255;
  return b;
}

/** XXH64 of patternBytes(length), as `xxhsum -H1` (xxHash 0.8.1) printed them. */
export const XXH64_VECTORS: [number, string][] = [
  [0, 'ef46db3751d8e999'],
  [1, '1f25c8d0bc1f4bb6'],
  [3, '31d2363f52e564c9'],
  [4, '9bb64b7d66ee9fda'],
  [7, '9a7b149959ce60d8'],
  [8, 'dab99d95c6f90092'],
  [31, 'a2aa5f33cc4a6119'],
  [32, '23c3c17ef790fd97'],
  [33, '50a7cfc7ba588784'],
  [100, 'a61f8d4c170fe531'],
  [1000, '5f235fa033f1a3fb'],
  [1048577, '1a6c95bba854aa22'],
];

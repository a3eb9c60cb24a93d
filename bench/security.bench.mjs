#!/usr/bin/env node
// SHA3-512 of a 64 MiB file: calculateHash (streaming, size-capped) vs node:crypto directly vs @noble/hashes directly,
// and Ed25519 verifications per second: verifySignature (strict checks + node:crypto) vs bare node:crypto / noble.
// Target: calculateHash >= 0.9x node:crypto. Ratios from one run; never a timed test.
import * as nodeCrypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ed from '@noble/ed25519';
import { argon2idAsync } from '@noble/hashes/argon2.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { sha3_512 } from '@noble/hashes/sha3.js';
import {
  calculateHash,
  DEFAULT_ARGON2_PARAMS,
  decryptTrustList,
  encryptTrustList,
  generateKeyPair,
  sign,
  verifySignature,
} from '@plugward/security';
import { writeReport } from './report.mjs';

ed.hashes.sha512 = sha512;
const SIZE = 64 * 1024 * 1024;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-bench-security-'));
const file = path.join(dir, 'artifact.bin');
fs.writeFileSync(file, nodeCrypto.randomBytes(SIZE));

// The machine is shared and noisy: contenders run interleaved, and each keeps its best round.
async function bestInterleaved(rounds, contenders) {
  const out = contenders.map(() => ({ ms: Number.POSITIVE_INFINITY, result: undefined }));
  for (let r = 0; r < rounds; r++) {
    for (const [i, fn] of contenders.entries()) {
      globalThis.gc?.();
      const t = performance.now();
      const result = await fn();
      const ms = performance.now() - t;
      const slot = out[i];
      if (ms < slot.ms) Object.assign(slot, { ms, result });
    }
  }
  return out;
}

function nodeStreamHash(p) {
  return new Promise((resolve, reject) => {
    const h = nodeCrypto.createHash('sha3-512');
    fs.createReadStream(p, { highWaterMark: 1024 * 1024 })
      .on('data', (c) => h.update(c))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

// Warm the page cache so every contender reads from memory.
await nodeStreamHash(file);
const [ours, nodeStream, nodeOneShot] = await bestInterleaved(5, [
  () => calculateHash(file),
  () => nodeStreamHash(file),
  // Whole file in memory, one update: the fastest way to call node:crypto, with no size cap and 64 MiB of RAM.
  async () => nodeCrypto.createHash('sha3-512').update(fs.readFileSync(file)).digest('hex'),
]);
const node = nodeStream.ms < nodeOneShot.ms ? nodeStream : nodeOneShot;
const [noble] = await bestInterleaved(1, [
  async () => Buffer.from(sha3_512(fs.readFileSync(file))).toString('hex'),
]);
if (ours.result !== node.result || noble.result !== node.result || nodeStream.result !== nodeOneShot.result) {
  console.error('digests differ!', ours.result, node.result, noble.result);
  process.exit(1);
}
console.log(
  `node:crypto stream ${nodeStream.ms.toFixed(1)} ms, one-shot ${nodeOneShot.ms.toFixed(1)} ms: the faster is the baseline`,
);
const mibps = (ms) => Number((SIZE / 1024 / 1024 / (ms / 1000)).toFixed(1));
writeReport('security-sha3', 'ms for SHA3-512 of 64 MiB (lower is better)', [
  {
    case: `calculateHash (${mibps(ours.ms)} MiB/s) vs fastest node:crypto (${mibps(node.ms)} MiB/s)`,
    ours: Number(ours.ms.toFixed(1)),
    baseline: Number(node.ms.toFixed(1)),
    baselineName: 'node:crypto',
    target: 0.9,
  },
  {
    case: `calculateHash vs @noble/hashes sha3_512 (${mibps(noble.ms)} MiB/s)`,
    ours: Number(ours.ms.toFixed(1)),
    baseline: Number(noble.ms.toFixed(1)),
    baselineName: '@noble/hashes',
    target: 1,
  },
]);

const { privateKey, publicKey } = generateKeyPair();
const msg = nodeCrypto.randomBytes(256);
const sig = sign(msg, privateKey);
const keyObject = nodeCrypto.createPublicKey({
  key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), publicKey]),
  format: 'der',
  type: 'spki',
});

function perSecond(fn, ms) {
  let n = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    for (let i = 0; i < 20; i++) if (!fn()) throw new Error('verify failed');
    n += 20;
  }
  return Math.round((n * 1000) / ms);
}

// Interleaved rounds, best of each (see bestInterleaved).
const verifiers = [
  () => verifySignature(msg, sig, publicKey),
  () => nodeCrypto.verify(null, msg, keyObject, sig),
  () => ed.verify(sig, msg, publicKey, { zip215: false }),
];
for (const fn of verifiers) for (let i = 0; i < 30; i++) fn();
const ops = [0, 0, 0];
for (let r = 0; r < 5; r++) {
  for (const [i, fn] of verifiers.entries()) ops[i] = Math.max(ops[i], perSecond(fn, i === 2 ? 150 : 300));
}
const [oursOps, nodeOps, nobleOps] = ops;
writeReport('security-ed25519', 'Ed25519 verifications per second (higher is better)', [
  {
    case: 'verifySignature (strict checks + node:crypto) vs bare node:crypto.verify',
    ours: oursOps,
    baseline: nodeOps,
    baselineName: 'node:crypto',
    target: 0.9,
    higherIsBetter: true,
  },
  {
    case: 'verifySignature vs @noble/ed25519 verify',
    ours: oursOps,
    baseline: nobleOps,
    baselineName: '@noble/ed25519',
    target: 1,
    higherIsBetter: true,
  },
]);

// Unlocking a passphrase-protected trust list with the parameters new lists get (RFC 9106 second recommended option):
// decryptTrustList (header bound check + Argon2id + XChaCha20-Poly1305) vs the bare @noble/hashes Argon2id it runs.
const pass = { passphrase: 'correct horse battery staple' };
const locked = await encryptTrustList({ listVersion: 1, entries: [] }, pass);
const salt = nodeCrypto.randomBytes(16);
const [unlock, bareKdf] = await bestInterleaved(2, [
  () => decryptTrustList(locked, pass),
  () => argon2idAsync(pass.passphrase, salt, { ...DEFAULT_ARGON2_PARAMS, dkLen: 32 }),
]);
const { t, m, p } = DEFAULT_ARGON2_PARAMS;
console.log(`trust list unlock (Argon2id t=${t} m=${m / 1024} MiB p=${p}): ${unlock.ms.toFixed(0)} ms`);
writeReport('security-unlock', 'ms to unlock a passphrase trust list (lower is better)', [
  {
    case: `decryptTrustList, Argon2id t=${t} m=${m / 1024} MiB p=${p} (RFC 9106) vs bare @noble/hashes argon2id`,
    ours: Number(unlock.ms.toFixed(0)),
    baseline: Number(bareKdf.ms.toFixed(0)),
    baselineName: '@noble/hashes argon2id',
    target: 0.95,
  },
]);
fs.rmSync(dir, { recursive: true, force: true });

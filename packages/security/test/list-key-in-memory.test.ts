// A debugger (or heap dump) of a host attacked: everything a loaded PluginSecurity holds, private fields included, is
// read through the inspector protocol — what `node --inspect` or a core dump gives whoever gets at the host. The key
// that opens and re-seals the trust list (the raw key; the Argon2id-derived key of a passphrase list) must not be
// there: only the key derived to authenticate floor records, which opens nothing. Records written before the derived
// key was kept (authenticated under the same derivation) still verify.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { argon2idAsync } from '@noble/hashes/argon2.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  generateKeyPair,
  PluginSecurity,
  readManifest,
  readRollbackFloor,
  rollbackFloorPath,
  toHex,
  trustEntryFromManifest,
} from '../src/index.js';
import { TRUST_LIST_HEADER_BYTES } from '../src/trust-list.js';
import { signedArtifact, tempDir } from './helpers.js';

const dir = tempDir('list-key-memory');
const publisher = generateKeyPair();
const pub = toHex(publisher.publicKey);
const fastKdf = { t: 1, m: 64, p: 1 };
const session = new Session();

beforeAll(() => session.connect());
afterAll(() => session.disconnect());

type RemoteObject = { type: string; subtype?: string; objectId?: string };
type Property = { name: string; value?: RemoteObject };

/** Every byte array reachable from `root` through own and private properties, `depth` levels down. */
async function reachableBytes(root: unknown, depth = 4): Promise<Uint8Array[]> {
  const g = globalThis as { __pwInspect?: unknown };
  g.__pwInspect = root;
  const { result } = (await session.post('Runtime.evaluate', { expression: 'globalThis.__pwInspect' })) as {
    result: RemoteObject;
  };
  delete g.__pwInspect;
  const out: Uint8Array[] = [];
  const seen = new Set<string>();
  const walk = async (obj: RemoteObject, left: number): Promise<void> => {
    if (obj.objectId === undefined || seen.has(obj.objectId) || left < 0) return;
    seen.add(obj.objectId);
    if (obj.subtype === 'typedarray' || obj.subtype === 'arraybuffer') {
      const r = (await session.post('Runtime.callFunctionOn', {
        objectId: obj.objectId,
        functionDeclaration:
          'function () { return Array.from(new Uint8Array(this.buffer ?? this, this.byteOffset ?? 0, this.byteLength)); }',
        returnByValue: true,
      })) as { result: { value: number[] } };
      out.push(Uint8Array.from(r.result.value));
      return;
    }
    const props = (await session.post('Runtime.getProperties', {
      objectId: obj.objectId,
      ownProperties: true,
    })) as { result: Property[]; privateProperties?: Property[]; internalProperties?: Property[] };
    for (const p of [
      ...props.result,
      ...(props.privateProperties ?? []),
      ...(props.internalProperties ?? []),
    ]) {
      if (p.value?.type === 'object') await walk(p.value, left - 1);
    }
  };
  await walk(result, depth);
  return out;
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

async function listed(tag: string) {
  const { path } = await signedArtifact(dir, `${tag}.mjs`, `export default '${tag}';`, {
    name: tag,
    keys: publisher,
  });
  return { path, entry: trustEntryFromManifest(await readManifest(path), pub) };
}

describe('floor records written before the derived key was kept', () => {
  it('still authenticate (the record below was written by the previous version, list key 01 02 … 20)', async () => {
    const floors = tempDir('old-record');
    const listPath = '/srv/plugward/list.enc';
    writeFileSync(
      rollbackFloorPath(floors, listPath),
      '{"format":"plugward-trust-floor","path":"/srv/plugward/list.enc","listId":"0123456789abcdef0123456789abcdef","floor":7,"versions":{"hello":"2.1.0","zeta":"1.0.0"},"mac":"df480800e32b34aa3d2a09062b3212327d3e5d6f1fc735f88c69c498cdd70b67"}\n',
      { mode: 0o600 },
    );
    const listKey = new Uint8Array(32).map((_, i) => i + 1);
    const found = await readRollbackFloor(floors, listPath, listKey);
    expect(found).toMatchObject({
      state: 'ok',
      record: { floor: 7, versions: { hello: '2.1.0', zeta: '1.0.0' } },
    });
    const other = new Uint8Array(32).map((_, i) => i + 2);
    expect(await readRollbackFloor(floors, listPath, other)).toEqual({ state: 'unauthenticated' });
  });
});

describe('the trust-list key is not kept by a loaded PluginSecurity', () => {
  it('raw key: after load and an admission, no reachable bytes hold the list key', async () => {
    const plugin = await listed('rawkey');
    const policy = { trustListPath: join(dir, 'raw.enc'), rollbackFloorDir: tempDir('raw-floors') };
    const key = randomBytes(32);
    await new PluginSecurity(policy, [pub], [plugin.entry]).encryptAndSaveTrustList(toHex(key));
    const host = new PluginSecurity(policy, [pub]);
    await host.loadAndDecryptTrustList(toHex(key));
    await host.admit(plugin.path, 'trusted');
    const bytes = await reachableBytes(host);
    // The walk does reach the floor key (so it would have reached the list key where the list key was kept).
    expect(bytes.some((b) => b.length === 32)).toBe(true);
    expect(bytes.filter((b) => contains(b, key))).toEqual([]);
  });

  it('passphrase list: the Argon2id-derived key is not reachable either', async () => {
    const plugin = await listed('passkey');
    const policy = { trustListPath: join(dir, 'pass.enc'), rollbackFloorDir: tempDir('pass-floors') };
    const listKey = { passphrase: 'correct horse battery staple', kdf: fastKdf };
    await new PluginSecurity(policy, [pub], [plugin.entry]).encryptAndSaveTrustList(listKey);
    const host = new PluginSecurity(policy, [pub]);
    await host.loadAndDecryptTrustList({ passphrase: listKey.passphrase });
    await host.admit(plugin.path, 'trusted');
    // The key the list is sealed with, derived as the file's header says (salt at bytes 24..40).
    const file = readFileSync(policy.trustListPath).subarray(0, TRUST_LIST_HEADER_BYTES);
    const derived = await argon2idAsync(listKey.passphrase, file.subarray(24, 40), {
      t: fastKdf.t,
      m: fastKdf.m,
      p: fastKdf.p,
      dkLen: 32,
    });
    const bytes = await reachableBytes(host);
    expect(bytes.filter((b) => contains(b, derived))).toEqual([]);
    // The admission was recorded under the derived floor key: the record authenticates with the list key.
    const found = await readRollbackFloor(policy.rollbackFloorDir, policy.trustListPath, derived);
    expect(found).toMatchObject({ state: 'ok', record: { versions: { passkey: '1.0.0' } } });
  });
});

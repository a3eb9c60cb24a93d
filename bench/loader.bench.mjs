// Per-call overhead of a native hook (C plugin through koffi: call_hook + copy + free_buffer) vs the same work as an
// in-process JS hook. Ratio = JS / native (< 1: native calls cost more; the target is what we accept for the FFI hop).
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileNativePlugin, PluginLoader } from '@plugward/loader';
import { writeReport } from './report.mjs';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = mkdtempSync(path.join(os.tmpdir(), 'pw-bench-loader-'));

try {
  const file = await compileNativePlugin({
    sources: [path.join(root, 'examples', 'plugins', 'counter-c', 'src', 'counter.c')],
    output: path.join(dir, 'libcounter.so'),
  });
  const bytes = new Uint8Array(readFileSync(file));
  const hash = createHash('sha3-512').update(bytes).digest('hex');
  // The bench measures calls, not verification: a verifier that hands back these already-hashed bytes.
  const verified = {
    manifest: {
      manifestVersion: 1,
      name: 'counter-c',
      version: '1.2.0',
      author: 'Plugward',
      kind: 'native',
      artifact: { file: 'libcounter.so', sha3_512: hash, size: bytes.length },
      signature: { algorithm: 'ed25519', keyId: 'bench', value: '' },
    },
    bytes,
    hash,
    artifactPath: file,
    manifestPath: `${file}.plugward.json`,
    trustEntry: {
      name: 'counter-c',
      version: '1.2.0',
      hash,
      keyId: 'bench',
      publicKey: '',
      addedAt: new Date().toISOString(),
    },
  };
  const loader = new PluginLoader({ admit: async () => verified });
  const plugin = await loader.load(file, 'trusted');
  const map = new Map();
  await plugin.init(
    {
      get: (k) => map.get(k),
      set: (k, v) => void map.set(k, v),
      remove: (k) => map.delete(k),
      has: (k) => map.has(k),
      keys: () => [...map.keys()],
    },
    { tier: 'in-process', log() {} },
  );
  const handlers = new Map();
  await plugin.registerHooks({
    register(name, _priority, handler) {
      handlers.set(name, handler);
      return { unregister: () => handlers.delete(name) };
    },
  });
  const native = handlers.get('count');

  // The same work in JS: add the input length to a running total, return it as 8 bytes little-endian.
  let total = 0;
  const js = (data) => {
    total += data.length;
    const out = new Uint8Array(8);
    const view = new DataView(out.buffer);
    view.setUint32(0, total >>> 0, true);
    view.setUint32(4, Math.floor(total / 2 ** 32), true);
    return out;
  };

  const info = { hookName: 'count' };
  function perCall(fn, data, n) {
    for (let i = 0; i < 20_000; i++) fn(data, info);
    const best = [];
    for (let round = 0; round < 5; round++) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) fn(data, info);
      best.push(Number(process.hrtime.bigint() - t0) / n);
    }
    return Math.min(...best);
  }

  const rows = [];
  for (const size of [16, 4096]) {
    const data = new Uint8Array(size).fill(7);
    const n = 200_000;
    const ours = perCall(native, data, n);
    const baseline = perCall(js, data, n);
    rows.push({
      case: `native hook call, ${size} B in / 8 B out`,
      ours: Number(ours.toFixed(1)),
      baseline: Number(baseline.toFixed(1)),
      baselineName: 'in-process JS hook',
      // Accepted: the FFI hop (C call + result copy + free_buffer) costs at most 5x the equivalent JS hook.
      target: 0.2,
    });
  }
  writeReport('loader', 'ns/call', rows);
  await plugin.shutdown();
  await plugin.unload();
} finally {
  rmSync(dir, { recursive: true, force: true });
}

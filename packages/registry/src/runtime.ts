// The plugin-side runtime: the entry of every plugin process, sandboxed process and worker. It loads the verified
// private copy it is pointed at, then serves the plugin over the framed IPC channel (fd 3, or a MessagePort in a
// worker) until the host asks it to shut down or goes away — so no plugin process ever outlives its host.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import { isMainThread, type MessagePort, workerData } from 'node:worker_threads';
import { IpcChannel, connectToHost, messagePortStream, processMetrics, servePlugin } from '@plugward/ipc';
import { PluginLoader } from '@plugward/loader';
import {
  MANIFEST_SUFFIX,
  MAX_MANIFEST_BYTES,
  PluginError,
  type PluginInstance,
  type PluginManifest,
  type PluginMetrics,
  MINIMAL_REQUIREMENTS,
  toPluginError,
} from '@plugward/types';

function workerMetrics(): PluginMetrics {
  const heap = v8.getHeapStatistics();
  const cpu = process.cpuUsage();
  return {
    timestamp: Date.now(),
    source: 'v8',
    memoryBytes: heap.used_heap_size + heap.external_memory,
    heapLimitBytes: heap.heap_size_limit,
    cpuTimeMs: (cpu.user + cpu.system) / 1000,
  };
}

async function loadCopy(dir: string, file: string): Promise<PluginInstance> {
  const artifactPath = path.join(dir, file);
  const manifestPath = artifactPath + MANIFEST_SUFFIX;
  const manifestText = fs.readFileSync(manifestPath);
  if (manifestText.byteLength > MAX_MANIFEST_BYTES) throw new PluginError('InvalidManifest', 'manifest too large');
  const manifest = JSON.parse(manifestText.toString('utf8')) as PluginManifest;
  const bytes = new Uint8Array(fs.readFileSync(artifactPath));
  const hash = createHash('sha3-512').update(bytes).digest('hex');
  // The host verified these bytes before copying them; a mismatch here means the copy was tampered with.
  if (hash !== manifest.artifact.sha3_512) {
    throw new PluginError('SecurityError', `private copy of ${manifest.name} does not match its verified hash`);
  }
  const loader = new PluginLoader(undefined);
  return loader.loadVerified({ manifest, bytes, hash, artifactPath, manifestPath });
}

/** A stand-in that reports why loading failed, through the normal Initialize error path. */
function failedInstance(error: PluginError): PluginInstance {
  const fail = async () => {
    throw error;
  };
  return {
    name: 'unloaded',
    version: '0.0.0',
    author: '',
    description: undefined,
    kind: 'js',
    declaredLimits: {},
    requirements: MINIMAL_REQUIREMENTS,
    init: fail,
    registerHooks: fail,
    shutdown: async () => {},
    unload: async () => {},
  };
}

async function main(): Promise<void> {
  const args = isMainThread ? process.argv.slice(2) : process.argv.slice(2);
  const [dir, file] = args;
  let instance: PluginInstance;
  try {
    if (!dir || !file) throw new PluginError('InvalidArgument', 'usage: runtime <private-dir> <artifact-file>');
    instance = await loadCopy(dir, file);
  } catch (e) {
    instance = failedInstance(toPluginError(e, 'LoadError', 'plugin runtime could not load the plugin'));
  }
  const channel = isMainThread
    ? connectToHost({ label: instance.name })
    : new IpcChannel(messagePortStream((workerData as { port: MessagePort }).port), { role: 'plugin', label: instance.name });
  const result = await servePlugin(channel, instance, { metrics: isMainThread ? processMetrics : workerMetrics });
  if (isMainThread) process.exit(result.shutdown ? 0 : 1);
}

main().catch((e) => {
  process.stderr.write(`plugward runtime: ${(e as Error).stack ?? String(e)}\n`);
  if (isMainThread) process.exit(70);
});

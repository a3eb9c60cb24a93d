// The koffi mirror of plugward.h must match what the C compiler lays out: sizes, every field offset, the ABI version
// and the status codes. A drift here would make the loader read the wrong field instead of failing.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PLUGWARD_ABI_VERSION } from '@plugward/types';
import koffi from 'koffi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeAbi, PwStatus } from '../src/native-abi.js';
import { INCLUDE_DIR, removeDir, tempDir } from './helpers.js';

const { PwPlugin, PwHostApi, pluginSize: PW_PLUGIN_SIZE, hostApiSize: PW_HOST_API_SIZE } = nativeAbi();
const PLUGIN_FIELDS = Object.keys(PwPlugin.members ?? {});
const HOST_FIELDS = Object.keys(PwHostApi.members ?? {});

let dir: string;
let layout: Record<string, number>;

beforeAll(() => {
  dir = tempDir();
  const src = path.join(dir, 'layout.c');
  const field = (struct: string, f: string) =>
    `  printf("\\"${struct}.${f}\\": %zu,", offsetof(${struct}, ${f}));`;
  writeFileSync(
    src,
    [
      '#include <stdio.h>',
      '#include <stddef.h>',
      '#include "plugward.h"',
      'int main(void) {',
      '  printf("{");',
      '  printf("\\"sizeof.pw_plugin\\": %zu,", sizeof(pw_plugin));',
      '  printf("\\"sizeof.pw_host_api\\": %zu,", sizeof(pw_host_api));',
      '  printf("\\"abi\\": %u,", PLUGWARD_ABI_VERSION);',
      ...PLUGIN_FIELDS.map((f) => field('pw_plugin', f)),
      ...HOST_FIELDS.map((f) => field('pw_host_api', f)),
      '  printf("\\"end\\": 0}");',
      '  return 0;',
      '}',
    ].join('\n'),
  );
  const exe = path.join(dir, 'layout');
  execFileSync('cc', [`-I${INCLUDE_DIR}`, '-o', exe, src]);
  layout = JSON.parse(execFileSync(exe, { encoding: 'utf8' }));
});
afterAll(() => removeDir(dir));

describe('plugward.h and the koffi mirror agree', () => {
  it('struct sizes and the ABI version', () => {
    expect(PLUGIN_FIELDS.length).toBe(14);
    expect(HOST_FIELDS.length).toBe(8);
    expect(layout['sizeof.pw_plugin']).toBe(PW_PLUGIN_SIZE);
    expect(layout['sizeof.pw_host_api']).toBe(PW_HOST_API_SIZE);
    expect(layout.abi).toBe(PLUGWARD_ABI_VERSION);
  });

  it('every field offset', () => {
    for (const f of PLUGIN_FIELDS)
      expect([f, layout[`pw_plugin.${f}`]]).toEqual([f, koffi.offsetof(PwPlugin, f)]);
    for (const f of HOST_FIELDS)
      expect([f, layout[`pw_host_api.${f}`]]).toEqual([f, koffi.offsetof(PwHostApi, f)]);
  });

  it('status codes', () => {
    const header = readFileSync(path.join(INCLUDE_DIR, 'plugward.h'), 'utf8');
    const fromHeader: Record<string, number> = {};
    for (const m of header.matchAll(/\b(PW_(?:OK|ERR_[A-Z_]+))\s*=\s*(\d+)/g))
      fromHeader[m[1]!] = Number(m[2]);
    const toC = (k: string) =>
      k === 'Ok' ? 'PW_OK' : `PW_ERR_${k.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()}`;
    const fromTs = Object.fromEntries(Object.entries(PwStatus).map(([k, v]) => [toC(k), v]));
    expect(fromTs).toEqual(fromHeader);
  });
});

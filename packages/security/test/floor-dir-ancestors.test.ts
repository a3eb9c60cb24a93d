// The rollback floor directory must be private, and so must its ancestors (the attacker's test).
// PLUGWARD_STATE_DIR=/tmp/plugward-state is a natural setting; if another local user created that folder first (or
// it is group/world-writable without the sticky bit), that user can rename the host's trust-floors directory at will:
// hide it (the operator is told to run `plugward trust floor --reset`, which starts a new directory), then put the
// old directory — with its older, authentic records — back beside an older copy of the list: the rollback the floor
// exists to stop. The check must walk up: every ancestor owned by root or this user and not writable by others
// (unless sticky, as /tmp is).
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readRollbackFloor, saveTrustList } from '../dist/index.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-floor-anc-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const NOBODY = 65534;

async function attempt(parentMode: number, parentUid: number | undefined): Promise<string> {
  const parent = fs.mkdtempSync(path.join(root, 'state-'));
  fs.chmodSync(parent, parentMode);
  if (parentUid !== undefined) fs.chownSync(parent, parentUid, parentUid);
  const floorDir = path.join(parent, 'trust-floors');
  const list = path.join(root, `${path.basename(parent)}.enc`);
  const key = randomBytes(32).toString('hex');
  try {
    await saveTrustList(list, { listVersion: 1, entries: [] }, key, { floorDir });
    await readRollbackFloor(floorDir, list, Buffer.from(key, 'hex'));
    return 'accepted';
  } catch (e) {
    return `${(e as { code?: string }).code}`;
  }
}

describe('the rollback floor directory: its ancestors must be as private as it is', () => {
  it('refuses a floor directory inside a world-writable, non-sticky folder', async () => {
    expect(await attempt(0o777, undefined)).toBe('TrustListError');
  });
  it('refuses a floor directory inside a folder another user owns', async () => {
    if (process.getuid?.() !== 0) {
      console.warn('!!! SKIPPED: needs root to make a folder owned by another user');
      return;
    }
    expect(await attempt(0o755, NOBODY)).toBe('TrustListError');
  });
  it('accepts a floor directory in a private folder (control)', async () => {
    expect(await attempt(0o700, undefined)).toBe('accepted');
  });
});

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MINIMAL_REQUIREMENTS, type PluginRequirements } from '@plugward/types';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkHookGrant, decideGrants, type GrantInput, resolveGrantedPaths } from './grant-policy.js';

const GREEDY: PluginRequirements = {
  network: {
    mode: 'restricted',
    allowedTargets: [
      { host: '127.0.0.1', ports: [8080] },
      { host: '169.254.169.254' },
      { host: '10.0.0.0/8' },
      { host: 'api.example.com', ports: [443, 80] },
      { host: '*.cdn.example.com' },
    ],
  },
  filesystem: { mode: 'readWrite', paths: ['/etc', '/srv/data/plugin', 'relative/path'] },
  context: { read: ['*'], write: ['db.password', 'cache.x'] },
};

const input = (over: Partial<GrantInput>): GrantInput => ({
  name: 'p',
  trustLevel: 'untrusted',
  hash: 'aa',
  verifiedSigners: [],
  requested: GREEDY,
  grants: {},
  ...over,
});

describe('decideGrants', () => {
  it('untrusted without a grant: minimal, whatever it requested', () => {
    const d = decideGrants(input({}));
    expect(d.granted).toEqual(MINIMAL_REQUIREMENTS);
    expect(d.requested).toEqual(GREEDY);
    expect(d.hooks).toEqual([]);
    expect(d.source).toBe('none');
  });

  it('trusted: its signed requirements; with a cap, the intersection', () => {
    expect(decideGrants(input({ trustLevel: 'trusted' }))).toMatchObject({ granted: GREEDY, hooks: 'any' });
    const capped = decideGrants(
      input({ trustLevel: 'trusted', grants: { trustedCap: { network: { mode: 'isolated' } } } }),
    );
    expect(capped.granted.network).toEqual({ mode: 'isolated' });
    expect(capped.granted.filesystem).toEqual(GREEDY.filesystem);
    expect(capped.source).toBe('trusted cap');
  });

  it('untrusted with a grant: the intersection, never more than asked', () => {
    const d = decideGrants(
      input({
        grants: {
          plugins: {
            p: {
              network: {
                mode: 'restricted',
                allowedTargets: [
                  { host: 'api.example.com', ports: [443] },
                  { host: 'img.cdn.example.com' },
                  { host: 'other.example.org' },
                  { host: '10.1.2.3' },
                ],
              },
              filesystem: { mode: 'readOnly', paths: ['/srv/data', '/var/lib'] },
              context: { read: ['motd'], write: ['cache.x', 'cache.y'] },
            },
          },
        },
      }),
    );
    expect(d.granted).toEqual({
      network: {
        mode: 'restricted',
        allowedTargets: [
          { host: '10.1.2.3' },
          { host: 'api.example.com', ports: [443] },
          { host: 'img.cdn.example.com' },
        ],
      },
      filesystem: { mode: 'readOnly', paths: ['/srv/data/plugin'] },
      context: { read: ['motd'], write: ['cache.x'] },
    });
    expect(d.source).toBe('plugin grant');
    expect(d.reason).toMatch(/not granted/);
  });

  it('a grant is not a push: what was not requested is not given', () => {
    const d = decideGrants(
      input({
        requested: MINIMAL_REQUIREMENTS,
        grants: {
          plugins: {
            p: {
              network: { mode: 'full' },
              filesystem: { mode: 'readWrite', paths: ['/srv'] },
              context: { read: ['*'], write: ['*'] },
            },
          },
        },
      }),
    );
    expect(d.granted).toEqual(MINIMAL_REQUIREMENTS);
  });

  it('full network needs both sides; a full grant lists no loopback, private or range target for the broker', () => {
    const full = (requested: PluginRequirements['network']) =>
      decideGrants(
        input({
          requested: { ...MINIMAL_REQUIREMENTS, network: requested },
          grants: { plugins: { p: { network: { mode: 'full' } } } },
        }),
      ).granted.network;
    expect(full({ mode: 'full' })).toEqual({ mode: 'full' });
    expect(full(GREEDY.network)).toEqual({
      mode: 'restricted',
      allowedTargets: [{ host: 'api.example.com', ports: [443, 80] }, { host: '*.cdn.example.com' }],
    });
    expect(
      full({ mode: 'restricted', allowedTargets: [{ host: '::1' }, { host: 'fd00:ec2::254' }] }),
    ).toEqual({
      mode: 'isolated',
    });
    // A full request under a restricted grant gets the grant's targets, not the host network.
    expect(
      decideGrants(
        input({
          requested: { ...MINIMAL_REQUIREMENTS, network: { mode: 'full' } },
          grants: {
            plugins: { p: { network: { mode: 'restricted', allowedTargets: [{ host: 'a.example' }] } } },
          },
        }),
      ).granted.network,
    ).toEqual({ mode: 'restricted', allowedTargets: [{ host: 'a.example' }] });
  });

  it('a loopback target is granted only when the host lists it itself', () => {
    const net = (targets: { host: string; ports?: number[] }[]) =>
      decideGrants(
        input({ grants: { plugins: { p: { network: { mode: 'restricted', allowedTargets: targets } } } } }),
      ).granted.network;
    expect(net([{ host: 'api.example.com' }])).toEqual({
      mode: 'restricted',
      allowedTargets: [{ host: 'api.example.com', ports: [443, 80] }],
    });
    expect(net([{ host: '127.0.0.1', ports: [9999] }])).toEqual({ mode: 'isolated' });
    expect(net([{ host: '127.0.0.1', ports: [8080, 9999] }])).toEqual({
      mode: 'restricted',
      allowedTargets: [{ host: '127.0.0.1', ports: [8080] }],
    });
  });

  it("a wide granted range does not hand the plugin's loopback or private targets to the broker", () => {
    const net = (req: string[], grant: string[]) =>
      decideGrants(
        input({
          requested: {
            ...MINIMAL_REQUIREMENTS,
            network: { mode: 'restricted', allowedTargets: req.map((host) => ({ host })) },
          },
          grants: {
            plugins: {
              p: { network: { mode: 'restricted', allowedTargets: grant.map((host) => ({ host })) } },
            },
          },
        }),
      ).granted.network;
    expect(
      net(['127.0.0.1', '10.0.0.0/8', '8.0.0.0/6', '::ffff:127.0.0.1', '169.254.169.254'], ['0.0.0.0/0']),
    ).toEqual({
      mode: 'isolated',
    });
    expect(net(['::1', 'fd00:ec2::254', '::ffff:0:0/96'], ['::/0'])).toEqual({ mode: 'isolated' });
    expect(net(['93.184.216.34', '93.184.0.0/16'], ['0.0.0.0/0'])).toEqual({
      mode: 'restricted',
      allowedTargets: [{ host: '93.184.216.34' }, { host: '93.184.0.0/16' }],
    });
    // Listed by the host itself: granted.
    expect(net(['0.0.0.0/0'], ['127.0.0.1'])).toEqual({
      mode: 'restricted',
      allowedTargets: [{ host: '127.0.0.1' }],
    });
  });

  it('a name grant bound to a hash, or a signer grant, applies only to the matching plugin', () => {
    const grant = { context: { read: ['motd'], write: [] }, hooks: [{ name: 'h' }] };
    expect(decideGrants(input({ grants: { plugins: { p: { ...grant, sha3_512: 'bb' } } } })).source).toBe(
      'none',
    );
    expect(decideGrants(input({ grants: { plugins: { p: { ...grant, sha3_512: 'aa' } } } })).source).toBe(
      'plugin grant',
    );
    const signers = { k1: { ...grant, publicKey: 'ignored here' } };
    expect(decideGrants(input({ grants: { signers } })).source).toBe('none');
    expect(decideGrants(input({ verifiedSigners: ['k1'], grants: { signers } })).source).toBe('signer grant');
  });

  it('full network for an untrusted plugin only from a grant naming it, not from its signer grant', () => {
    const requested = { ...MINIMAL_REQUIREMENTS, network: { mode: 'full' as const } };
    const signers = { k1: { publicKey: 'x', network: { mode: 'full' as const } } };
    const bySigner = decideGrants(input({ requested, verifiedSigners: ['k1'], grants: { signers } }));
    expect(bySigner.granted.network).toEqual({ mode: 'isolated' });
    expect(bySigner.reason).toMatch(/naming the plugin/);
    const byName = decideGrants(
      input({ requested, grants: { plugins: { p: { network: { mode: 'full' } } } } }),
    );
    expect(byName.granted.network).toEqual({ mode: 'full' });
  });

  it('names that are Object.prototype keys grant nothing', () => {
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      expect(decideGrants(input({ name, grants: { plugins: {} } })).source).toBe('none');
    }
  });
});

describe('checkHookGrant', () => {
  it('refuses ungranted hooks and priorities outside the range (default: Low and later)', () => {
    expect(checkHookGrant('any', 'p', 'x', 0)).toBe('any');
    expect(() => checkHookGrant([], 'p', 'x', 300)).toThrow(/no hooks/);
    expect(() => checkHookGrant([{ name: 'h' }], 'p', 'h', 299)).toThrow(/300/);
    expect(checkHookGrant([{ name: 'h' }], 'p', 'h', 300)).toEqual({ name: 'h' });
    expect(() => checkHookGrant([{ name: 'h', minPriority: 0, maxPriority: 50 }], 'p', 'h', 51)).toThrow();
    expect(() => checkHookGrant([{ name: 'h' }], 'p', 'h', Number.NaN)).toThrow();
    try {
      checkHookGrant([{ name: 'h' }], 'p', 'g', 300);
    } catch (e) {
      expect((e as { code?: string }).code).toBe('GrantDenied');
    }
  });
});

describe('resolveGrantedPaths', () => {
  it('drops a granted path whose real path leaves the grant (a symlink out of a granted directory)', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-grant-paths-'));
    try {
      fs.mkdirSync(path.join(root, 'data'));
      fs.mkdirSync(path.join(root, 'data', 'ok'));
      fs.symlinkSync('/etc', path.join(root, 'data', 'escape'));
      const grant = { filesystem: { mode: 'readWrite' as const, paths: [path.join(root, 'data')] } };
      const d = decideGrants(
        input({
          requested: {
            ...MINIMAL_REQUIREMENTS,
            filesystem: {
              mode: 'readWrite',
              paths: [
                path.join(root, 'data', 'escape'),
                path.join(root, 'data', 'ok'),
                path.join(root, 'data', 'gone'),
              ],
            },
          },
          grants: { plugins: { p: grant } },
        }),
      );
      expect(d.granted.filesystem).toMatchObject({ mode: 'readWrite' });
      const resolved = await resolveGrantedPaths(d, grant);
      // `ok` lies inside the read-write grant (a writer there could swap it before the sandbox binds it): the granted
      // directory that holds it is bound instead.
      expect(resolved.granted.filesystem).toEqual({
        mode: 'readWrite',
        paths: [fs.realpathSync(path.join(root, 'data'))],
      });
      expect(resolved.reason).toMatch(/dropped 2/);
      expect(resolved.reason).toMatch(/bound .*data instead of .*ok \(.*data is inside the read-write grant/);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("drops a read-write grant over the host's own state: its state folders, its temporary folder and its entries there", async () => {
    const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'pw-grant-state-')));
    try {
      const tmp = path.join(root, 'tmp');
      const state = path.join(root, 'home', 'state', 'plugward');
      for (const d of [
        path.join(tmp, 'plugward-copy-1-2-p3-x'),
        path.join(tmp, 'app'),
        path.join(root, 'home', 'docs'),
      ])
        fs.mkdirSync(d, { recursive: true });
      const hostState = { private: [state], sharedTemp: [tmp] };
      const asked = [
        tmp,
        path.join(tmp, 'plugward-copy-1-2-p3-x'),
        path.join(tmp, 'app'),
        path.join(root, 'home'),
        path.join(root, 'home', 'docs'),
      ];
      const grant = { filesystem: { mode: 'readWrite' as const, paths: asked } };
      const d = decideGrants(
        input({
          requested: { ...MINIMAL_REQUIREMENTS, filesystem: { mode: 'readWrite', paths: asked } },
          grants: { plugins: { p: grant } },
        }),
      );
      const r = await resolveGrantedPaths(d, grant, { plugins: { p: grant } }, [], hostState);
      // The temporary folder itself, the host's entry in it, and the folder holding its state folder (not made yet).
      expect(r.reason).toMatch(/read-write over the host's temporary folder/);
      expect(r.reason).toMatch(/read-write inside the host's private .*plugward-copy-/);
      expect(r.reason).toMatch(/read-write over the host's own state/);
      for (const gone of [tmp, path.join(tmp, 'plugward-copy-1-2-p3-x'), path.join(root, 'home')])
        expect(r.granted.filesystem.mode === 'none' ? [] : r.granted.filesystem.paths).not.toContain(gone);
      // Read-only, the same paths stay.
      const ro = { filesystem: { mode: 'readOnly' as const, paths: [tmp] } };
      const dro = decideGrants(
        input({
          requested: { ...MINIMAL_REQUIREMENTS, filesystem: { mode: 'readOnly', paths: [tmp] } },
          grants: { plugins: { p: ro } },
        }),
      );
      const rro = await resolveGrantedPaths(dro, ro, { plugins: { p: ro } }, [], hostState);
      expect(rro.granted.filesystem).toEqual({ mode: 'readOnly', paths: [tmp] });
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  describe('binds nothing a plugin could swap before the sandbox binds it', () => {
    let root = '';
    beforeEach(() => {
      root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'pw-grant-swap-')));
    });
    afterEach(() => fs.rmSync(root, { recursive: true, force: true }));
    const request = (mode: 'readOnly' | 'readWrite', paths: string[]) => ({
      ...MINIMAL_REQUIREMENTS,
      filesystem: { mode, paths },
    });

    it('keeps a path below a read-only grant that no one else may write', async () => {
      fs.mkdirSync(path.join(root, 'ro', 'sub'), { recursive: true });
      const grant = { filesystem: { mode: 'readOnly' as const, paths: [path.join(root, 'ro')] } };
      const d = decideGrants(
        input({
          requested: request('readOnly', [path.join(root, 'ro', 'sub')]),
          grants: { plugins: { p: grant } },
        }),
      );
      const r = await resolveGrantedPaths(d, grant, { plugins: { p: grant } });
      expect(r.granted.filesystem).toEqual({ mode: 'readOnly', paths: [path.join(root, 'ro', 'sub')] });
    });

    it("drops a read-only grant that lies inside another plugin's read-write grant", async () => {
      fs.mkdirSync(path.join(root, 'shared', 'ro'), { recursive: true });
      const mine = { filesystem: { mode: 'readOnly' as const, paths: [path.join(root, 'shared', 'ro')] } };
      const theirs = { filesystem: { mode: 'readWrite' as const, paths: [path.join(root, 'shared')] } };
      const grants = { plugins: { p: mine, other: theirs } };
      const d = decideGrants(
        input({ requested: request('readOnly', [path.join(root, 'shared', 'ro')]), grants }),
      );
      const r = await resolveGrantedPaths(d, mine, grants);
      expect(r.granted.filesystem).toEqual({ mode: 'none' });
      expect(r.reason).toMatch(/dropped .*shared\/ro \(.*shared is inside the read-write grant/);
    });

    it('drops a path below a directory others may write (not sticky), and keeps one below a sticky one it owns', async () => {
      fs.mkdirSync(path.join(root, 'open', 'data'), { recursive: true });
      fs.chmodSync(path.join(root, 'open'), 0o777);
      fs.mkdirSync(path.join(root, 'sticky', 'data'), { recursive: true });
      fs.chmodSync(path.join(root, 'sticky'), 0o1777);
      const paths = [path.join(root, 'open', 'data'), path.join(root, 'sticky', 'data')];
      const grant = { filesystem: { mode: 'readOnly' as const, paths } };
      const d = decideGrants(
        input({ requested: request('readOnly', paths), grants: { plugins: { p: grant } } }),
      );
      const r = await resolveGrantedPaths(d, grant, { plugins: { p: grant } });
      expect(r.granted.filesystem).toEqual({ mode: 'readOnly', paths: [path.join(root, 'sticky', 'data')] });
      expect(r.reason).toMatch(/others may write .*open/);
    });

    it("counts the read-write paths other plugins hold outside the host's grants (a trusted plugin's request)", async () => {
      fs.mkdirSync(path.join(root, 'theirs', 'mine'), { recursive: true });
      const mine = { filesystem: { mode: 'readOnly' as const, paths: [path.join(root, 'theirs', 'mine')] } };
      const grants = { plugins: { p: mine } };
      const d = decideGrants(
        input({ requested: request('readOnly', [path.join(root, 'theirs', 'mine')]), grants }),
      );
      expect((await resolveGrantedPaths(d, mine, grants)).granted.filesystem.mode).toBe('readOnly');
      const r = await resolveGrantedPaths(d, mine, grants, [path.join(root, 'theirs')]);
      expect(r.granted.filesystem).toEqual({ mode: 'none' });
      expect(r.reason).toMatch(/theirs is inside the read-write grant/);
    });

    it('drops a path that would carry a kernel filesystem of the host into the sandbox (/, /proc, /sys/…)', async () => {
      const paths = ['/', '/proc/self', '/sys/kernel', root];
      const grant = { filesystem: { mode: 'readOnly' as const, paths: ['/'] } };
      const d = decideGrants(
        input({ requested: request('readOnly', paths), grants: { plugins: { p: grant } } }),
      );
      const r = await resolveGrantedPaths(d, grant, { plugins: { p: grant } });
      expect(r.granted.filesystem).toEqual({ mode: 'readOnly', paths: [root] });
      expect(r.reason).toMatch(/dropped \/ \(the host's proc at \/proc is below it\)/);
      expect(r.reason).toMatch(/dropped \/proc\/self \(.*dropped \/sys\/kernel \(/);
    });

    it('sees a folder inside a read-write grant reached through a bind mount elsewhere (by filesystem, not path)', async (ctx) => {
      if (process.getuid?.() !== 0) return ctx.skip('bind mounts need root (mount --bind)');
      fs.mkdirSync(path.join(root, 'shared', 'out', 'x'), { recursive: true });
      fs.mkdirSync(path.join(root, 'export'));
      const bind = spawnSync('mount', [
        '--bind',
        path.join(root, 'shared', 'out'),
        path.join(root, 'export'),
      ]);
      expect(bind.status).toBe(0);
      try {
        const mine = { filesystem: { mode: 'readOnly' as const, paths: [path.join(root, 'export')] } };
        const theirs = { filesystem: { mode: 'readWrite' as const, paths: [path.join(root, 'shared')] } };
        const grants = { plugins: { p: mine, other: theirs } };
        const want = path.join(root, 'export', 'x');
        const d = decideGrants(input({ requested: request('readOnly', [want]), grants }));
        const r = await resolveGrantedPaths(d, mine, grants);
        // `export` itself can't be swapped (its parent is the host's), so it is bound instead of `export/x`.
        expect(r.granted.filesystem).toEqual({ mode: 'readOnly', paths: [path.join(root, 'export')] });
        expect(r.reason).toMatch(
          /bound .*export instead of .*export\/x \(.*export is inside the read-write grant .*shared/,
        );
      } finally {
        spawnSync('umount', ['-l', path.join(root, 'export')]);
      }
    });

    it("checks a trusted plugin's paths (no host grant behind them) the same way", async () => {
      fs.mkdirSync(path.join(root, 'open', 'data'), { recursive: true });
      fs.chmodSync(path.join(root, 'open'), 0o777);
      fs.mkdirSync(path.join(root, 'fine'));
      const paths = [path.join(root, 'open', 'data'), path.join(root, 'fine')];
      const d = decideGrants(
        input({ trustLevel: 'trusted', requested: request('readWrite', paths), grants: {} }),
      );
      const r = await resolveGrantedPaths(d, undefined, {});
      expect(r.granted.filesystem).toEqual({ mode: 'readWrite', paths: [path.join(root, 'fine')] });
    });
  });
});

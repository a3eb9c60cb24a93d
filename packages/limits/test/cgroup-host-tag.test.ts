// A stale state after a crash, attacked by pid reuse: a host killed with SIGKILL leaves its empty cgroups behind, and
// by the time the next host sweeps, another process may hold the dead host's pid. A cgroup named with the pid alone
// looks alive forever (it leaks, one per plugin the dead host ran); named with the host tag (pid + start time) it is
// swept. Groups of a live host, this host's own, and old-format groups of a live pid are never swept.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { hostTag, ownPidNamespace, processStartTime } from '@plugward/host-state';
import { describe, expect, it } from 'vitest';
import {
  cgroupName,
  cgroupOwner,
  cleanupStaleCgroups,
  createCgroup,
  detectCgroupLayout,
} from '../src/index.js';

describe('cgroup names carry the host tag', () => {
  it('cgroupName: <label>-<pid>-<start time>-p<pid namespace>.<hex>, and cgroupOwner reads back every format', () => {
    const name = cgroupName('hello');
    expect(name.startsWith(`hello-${hostTag()}.`)).toBe(true);
    const start = processStartTime(process.pid);
    expect(cgroupOwner(name)).toEqual({
      pid: process.pid,
      startTime: start,
      pidNamespace: ownPidNamespace(),
    });
    expect(cgroupOwner('hello-123-456.deadbeef')).toEqual({ pid: 123, startTime: 456 });
    expect(cgroupOwner('hello-123-deadbeef')).toEqual({ pid: 123 });
    expect(cgroupOwner('hello-1-2-x')).toBeUndefined();
  });

  it('the sweep removes an empty group whose host pid was reused, keeps live and own ones', async (ctx) => {
    const layout = detectCgroupLayout();
    if (layout === undefined || process.getuid?.() !== 0)
      return ctx.skip('needs root and a cgroup hierarchy');
    const parent = `plugward-tag-sweep-${process.pid}`;
    const own = createCgroup(layout, parent, cgroupName('own'), { pidsMax: 32 });
    const mount =
      layout.version === 1 ? (layout.mounts.pids as string) : (Object.values(layout.mounts)[0] as string);
    const live = process.ppid;
    const liveStart = processStartTime(live) as number;
    const dead = spawnSync('/bin/true').pid as number;
    const names = {
      // A dead host of this version whose pid now belongs to a live process started at another time.
      reused: `reused-${live}-${liveStart + 1}.deadbeef`,
      // The live process's own group (same start time): kept.
      alive: `alive-${live}-${liveStart}.cafebabe`,
      // Left by a host before the host tag: swept once its pid is free, kept while some process has it.
      oldDead: `old-${dead}-deadbeef`,
      oldLive: `old-${live}-cafebabe`,
    };
    const dirs = Object.fromEntries(Object.entries(names).map(([k, n]) => [k, path.join(mount, parent, n)]));
    for (const d of Object.values(dirs)) fs.mkdirSync(d);
    try {
      const removed = cleanupStaleCgroups(parent, layout);
      expect(removed.sort()).toEqual([dirs.oldDead, dirs.reused].sort());
      expect(fs.existsSync(dirs.alive as string)).toBe(true);
      expect(fs.existsSync(dirs.oldLive as string)).toBe(true);
      for (const dir of Object.values(own.paths)) expect(fs.existsSync(dir)).toBe(true);
    } finally {
      for (const d of Object.values(dirs)) if (fs.existsSync(d)) fs.rmdirSync(d);
      await own.remove();
      for (const m of new Set(Object.values(layout.mounts))) {
        try {
          fs.rmdirSync(path.join(m, parent));
        } catch {
          // Not created under this controller.
        }
      }
    }
  });

  it("the sweep kills what a dead host's group still holds before removing it; a live host's group keeps its process", async (ctx) => {
    const layout = detectCgroupLayout();
    if (layout === undefined || process.getuid?.() !== 0)
      return ctx.skip('needs root and a cgroup hierarchy');
    const parent = `plugward-kill-sweep-${process.pid}`;
    const mount =
      layout.version === 1 ? (layout.mounts.pids as string) : (Object.values(layout.mounts)[0] as string);
    const live = process.ppid;
    const liveStart = processStartTime(live) as number;
    const dead = spawnSync('/bin/true').pid as number;
    const otherNs = (ownPidNamespace() ?? 0) + 1;
    const dirs = {
      // A sandbox that outlived its host (killed while the sandbox started): its host's pid is free now.
      dead: path.join(mount, parent, `orphan-${dead}-12345.deadbeef`),
      alive: path.join(mount, parent, `alive-${live}-${liveStart}.cafebabe`),
      // A host of another pid namespace (a container sharing the cgroup tree): its pid means nothing here, so its
      // running sandbox is left alone although this namespace has no such pid.
      foreign: path.join(mount, parent, `foreign-${dead}-12345-p${otherNs}.feedf00d`),
    };
    const { spawn } = await import('node:child_process');
    const members = [spawn('/bin/sleep', ['60']), spawn('/bin/sleep', ['60']), spawn('/bin/sleep', ['60'])];
    try {
      for (const [i, d] of Object.values(dirs).entries()) {
        fs.mkdirSync(d, { recursive: true });
        fs.writeFileSync(path.join(d, 'cgroup.procs'), String(members[i]?.pid));
      }
      const ended = new Promise<NodeJS.Signals | null>((resolve) =>
        members[0]?.once('exit', (_code, signal) => resolve(signal)),
      );
      const killed: string[] = [];
      const removed = cleanupStaleCgroups(parent, layout, killed);
      expect(killed).toEqual([dirs.dead]);
      expect(removed).toEqual([dirs.dead]);
      expect(await ended).toBe('SIGKILL');
      expect(fs.existsSync(dirs.alive)).toBe(true);
      expect(members[1]?.exitCode).toBeNull();
      expect(fs.existsSync(dirs.foreign)).toBe(true);
      expect(members[2]?.exitCode).toBeNull();
      expect(fs.readFileSync(path.join(dirs.foreign, 'cgroup.procs'), 'utf8').trim()).toBe(
        String(members[2]?.pid),
      );
      expect(fs.readFileSync(path.join(dirs.alive, 'cgroup.procs'), 'utf8').trim()).toBe(
        String(members[1]?.pid),
      );
    } finally {
      for (const m of members) m.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, 100));
      for (const d of Object.values(dirs)) if (fs.existsSync(d)) fs.rmdirSync(d);
      for (const m of new Set(Object.values(layout.mounts))) {
        try {
          fs.rmdirSync(path.join(m, parent));
        } catch {
          // Not created under this controller.
        }
      }
    }
  });
});

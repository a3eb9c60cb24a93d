import { LinuxSandbox } from '@plugward/registry';
import { defineAttackSuite } from '../dist/vitest.js';

// The attacks that still escape on today's main (issue 12). Each is asserted to ESCAPE, not skipped: when a fix
// contains one, its test fails with "remove it from the expected-to-escape list" — remove the id then.
const expectedToEscapeOnMain = [
  'identity.uid-zero',
  'identity.uid-shared',
  'procfs.sysctl-write',
  'procfs.sysctl-write-native',
  'procfs.root-only-read',
  'procfs.pid1-exe-chmod',
  'procfs.pid1-mem-write',
  'per-user-limits.inotify',
  'grants.host-network-loopback',
  'grants.host-network-abstract-socket',
  'grants.broker-private-targets',
  'grants.fs-etc',
  'grants.fs-root',
  'grants.fs-cgroup-escape',
  'grants.context-star',
  'host-fds.stdout-reopen',
  'host-fds.host-log-file',
  'display.log-forging',
  'display.error-forging',
  'quotas.context-bytes',
  'quotas.context-bytes-trusted',
  'quotas.context-entries',
  'quotas.context-entries-trusted',
  'quotas.broker-flood',
  'quotas.broker-flood-trusted',
  'name-shadowing.untrusted-scanned-last',
  'name-shadowing.untrusted-loaded-directly',
  'protocol.oversize-frame',
  'protocol.garbage-frame',
  'protocol.stalled-frame',
  'cleanup.private-copies',
  'cpu.background-spin',
  'cpu.init-spin',
  'exec.tmp-and-shm',
  'exec.mountinfo-host-paths',
  'hooks.ungranted-rewrite',
  'hooks.priority-front',
  'hooks.failure-fails-trusted',
  'hooks.register-after-unload',
  'flow-control.log-flood-in-hook',
];

defineAttackSuite({ backend: new LinuxSandbox(), expectedToEscape: expectedToEscapeOnMain });

/**
 * The launcher: `node launcher.cjs` with the plan on fd 4 and the IPC socket on fd 3. On its **main thread** it joins
 * the cgroups, sets the rlimits, drops to the leased uid (root hosts), sets no_new_privs, restricts itself with
 * Landlock, loads the seccomp filter, and `execveat`s the runtime. Landlock domains and seccomp filters of the
 * calling thread are inherited by the new image, whose every thread (libuv pool, V8 platform, the plugin's) starts
 * inside them; the launcher's own other threads die with the exec. Exits 125 with one line on stderr when any step
 * fails: the command never runs with less.
 * @packageDocumentation
 */
import fs from 'node:fs';
import { type LibSeccomp, loadLibSeccomp } from '@plugward/sandbox-common';
import { FILE_RIGHTS } from './landlock-abi.js';
import { loadLibc } from './libc.js';
import type { LaunchPlan } from './plan.js';
import { loadThreadFilter } from './seccomp.js';

const PR_SET_NO_NEW_PRIVS = 38;
const PR_SET_PDEATHSIG = 1;
const PR_CAPBSET_DROP = 24;
const EINVAL = 22;
const SIGKILL = 9;
const CLONE_NEWCGROUP = 0x02000000;
const PLAN_FD = 4;
// Not in fs.constants; the same value on x86_64 and arm64.
const O_PATH = 0o10000000;
const O_CLOEXEC = 0o2000000;
/** Close-on-exec: the host sees EOF on its end once the exec succeeded, or the failure line. */
const STATUS_FD = 5;

function fail(step: string, detail: string): never {
  const line = `plugward-landlock: ${step}: ${detail}\n`;
  try {
    fs.writeSync(STATUS_FD, line);
  } catch {
    fs.writeSync(2, line);
  }
  process.exit(125);
}

function run(): void {
  let plan: LaunchPlan;
  try {
    plan = JSON.parse(fs.readFileSync(PLAN_FD, 'utf8')) as LaunchPlan;
    fs.closeSync(PLAN_FD);
  } catch (e) {
    fail('plan', String(e));
  }
  const libc = loadLibc();
  // Loaded now: once restricted, the launcher can't open libseccomp any more.
  let seccomp: LibSeccomp | undefined;
  try {
    if (plan.seccomp.length > 0) seccomp = loadLibSeccomp();
  } catch (e) {
    fail('seccomp', String(e));
  }
  // Join every cgroup before anything of the plugin runs (as root: the files are root's).
  for (const file of plan.cgroupProcs) {
    try {
      fs.writeFileSync(file, String(process.pid));
    } catch (e) {
      fail('cgroup', `${file}: ${String(e)}`);
    }
  }
  // A cgroup namespace rooted at the cgroup just joined, where the host may make one (root, outside a container's
  // seccomp profile): /proc/self/cgroup then shows `/`, not the cgroup's name (which carries the host's tag). Where it
  // can't, the plugin sees that path (the package README says so); nothing else depends on it.
  if (plan.cgroupProcs.length > 0 && process.geteuid?.() === 0) libc.unshare(CLONE_NEWCGROUP);
  // The command at execFd (close-on-exec), opened before NOFILE drops below that number.
  const cmdFd = fs.openSync(plan.command, fs.constants.O_RDONLY);
  if (libc.dupFdCloexec(cmdFd, plan.execFd) !== plan.execFd) fail('exec fd', `errno ${libc.errno()}`);
  fs.closeSync(cmdFd);
  // Nothing but fds 0–3 crosses the exec: whatever the host inherited without close-on-exec is marked.
  for (const name of fs.readdirSync('/proc/self/fd')) {
    const fd = Number(name);
    if (fd > 3 && fd !== plan.execFd) libc.setCloexec(fd);
  }
  // stdio and the IPC socket must cross it: the launcher's own Node start-up marked them close-on-exec.
  for (const fd of [0, 1, 2, 3])
    if (libc.clearCloexec(fd) !== 0) fail('stdio fds', `fd ${fd}: errno ${libc.errno()}`);
  for (const r of plan.rlimits) {
    const v = BigInt(r.value);
    if (libc.setrlimit(r.resource, v, v) !== 0)
      fail('setrlimit', `resource ${r.resource}: errno ${libc.errno()}`);
  }
  // The bounding set, emptied while still privileged: the sandbox keeps no capability (CapabilitiesConfig.dropAll;
  // the plan refuses allowedCaps). The uid change below clears the others. Unprivileged hosts have none to drop.
  if (process.geteuid?.() === 0) {
    for (let cap = 0; cap < 64; cap++) {
      if (libc.prctl(PR_CAPBSET_DROP, cap) === 0) continue;
      if (libc.errno() === EINVAL) break; // past the kernel's last capability
      fail('capability bounding set', `cap ${cap}: errno ${libc.errno()}`);
    }
  }
  if (plan.uid !== undefined) {
    try {
      const { setgroups, setgid, setuid } = process;
      if (setgroups === undefined || setgid === undefined || setuid === undefined)
        fail('uid', 'no setuid here');
      setgroups([]);
      setgid(plan.uid);
      setuid(plan.uid);
    } catch (e) {
      fail('uid', String(e));
    }
    if (process.getuid?.() !== plan.uid || process.geteuid?.() !== plan.uid) fail('uid', 'still privileged');
  }
  // After the uid change (which clears it): the plugin dies with the host.
  if (libc.prctl(PR_SET_PDEATHSIG, SIGKILL) !== 0) fail('pdeathsig', `errno ${libc.errno()}`);
  // A host that died before the prctl left the launcher reparented (to init, or to a subreaper: not always pid 1).
  if (process.ppid !== plan.hostPid) fail('pdeathsig', 'the host is already gone');
  if (libc.prctl(PR_SET_NO_NEW_PRIVS, 1) !== 0) fail('no_new_privs', `errno ${libc.errno()}`);

  const ruleset = libc.createRuleset(plan.abi, plan.handledFs, plan.handledNet, plan.scoped);
  if (ruleset < 0) fail('landlock_create_ruleset', `errno ${libc.errno()}`);
  const rules = [...plan.pathRules];
  if (plan.procSelf) rules.push({ path: `/proc/${process.pid}`, access: plan.handledFs & (4 | 8) });
  for (const rule of rules) {
    let fd: number;
    try {
      // The object the host opened and checked (inherited O_PATH handle); only the launcher's own /proc/<pid> by name.
      fd = rule.fd ?? fs.openSync(rule.path, O_PATH | O_CLOEXEC);
    } catch (e) {
      fail('landlock rule', `${rule.path}: ${String(e)}`);
    }
    const dir = fs.fstatSync(fd).isDirectory();
    const access = dir ? rule.access : rule.access & FILE_RIGHTS;
    if (access !== 0 && libc.addPathRule(ruleset, access, fd) !== 0) {
      fail('landlock_add_rule', `${rule.path}: errno ${libc.errno()}`);
    }
    fs.closeSync(fd);
  }
  if (libc.restrictSelf(ruleset) !== 0) fail('landlock_restrict_self', `errno ${libc.errno()}`);
  fs.closeSync(ruleset);
  if (seccomp !== undefined) {
    try {
      loadThreadFilter(plan.seccomp, seccomp);
    } catch (e) {
      fail('seccomp', String(e));
    }
  }
  libc.execveat(plan.execFd, plan.argv, plan.env);
  fail('execveat', `${plan.command}: errno ${libc.errno()}`);
}

run();

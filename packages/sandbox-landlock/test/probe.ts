/** A native probe: runs `open(path)` in a signal handler on every *other* thread of the process (tgkill). */
export const THREAD_PROBE_C = `#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
static const char *target;
static volatile int tids[256], errs[256];
static volatile int n;
static void handler(int sig) {
  (void)sig;
  int saved = errno;
  int fd = open(target, O_RDONLY);
  int e = fd < 0 ? errno : 0;
  if (fd >= 0) close(fd);
  int i = __atomic_fetch_add(&n, 1, __ATOMIC_SEQ_CST);
  if (i < 256) { tids[i] = (int)syscall(SYS_gettid); errs[i] = e; }
  errno = saved;
}
int probe(const char *path, char *buf, int len) {
  target = path;
  n = 0;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR2, &sa, NULL);
  pid_t me = getpid();
  pid_t self = (pid_t)syscall(SYS_gettid);
  DIR *d = opendir("/proc/self/task");
  if (!d) return -errno;
  int sent = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    int tid = atoi(e->d_name);
    if (tid <= 0 || tid == self) continue;
    if (syscall(SYS_tgkill, me, tid, SIGUSR2) == 0) sent++;
  }
  closedir(d);
  struct timespec ts = {0, 300 * 1000 * 1000};
  nanosleep(&ts, NULL);
  int off = snprintf(buf, len, "sent=%d", sent);
  for (int i = 0; i < n && i < 256 && off < len; i++) off += snprintf(buf + off, len - off, " %d:%d", tids[i], errs[i]);
  return n;
}
`;

/** JS body: make sure the libuv pool threads exist, run the probe, and read the file from the pool too. */
export function probeScript(koffiEntry: string, so: string, target: string): string {
  return `
const koffi = (await import(${JSON.stringify(koffiEntry)})).default;
// Start the libuv pool (4 threads) before anything else runs.
await Promise.all([1, 2, 3, 4, 5, 6].map(() => fs.promises.stat('/dev/null').catch(() => 0)));
const lib = koffi.load(${JSON.stringify(so)});
const probe = lib.func('int probe(const char *path, char *buf, int len)');
const buf = Buffer.alloc(8192);
const handled = probe(${JSON.stringify(target)}, buf, buf.length);
const pool = await errAsync(() => fs.promises.readFile(${JSON.stringify(target)}));
const main = errCode(() => fs.readFileSync(${JSON.stringify(target)}));
const out = buf.toString('utf8').replace(/\\0[\\s\\S]*$/, '');
await done({ handled, out, pool, main, threads: fs.readdirSync('/proc/self/task').length });
`;
}

/** Parses the probe's "sent=N tid:errno …" line. */
export function parseProbe(out: string): { sent: number; results: { tid: number; errno: number }[] } {
  const [head, ...rest] = out.trim().split(' ');
  return {
    sent: Number(head?.split('=')[1]),
    results: rest.map((r) => {
      const [tid, errno] = r.split(':').map(Number);
      return { tid: tid ?? -1, errno: errno ?? -1 };
    }),
  };
}

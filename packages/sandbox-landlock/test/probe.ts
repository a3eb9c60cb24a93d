/**
 * JS body: make sure the libuv pool threads exist, run the probe, and read the file from the pool too. The script's
 * arguments name koffi's entry and the probe's `.so` (the sandbox moves them to neutral paths and rewrites the
 * arguments, not the script's text).
 */
export function probeScript(target: string): string {
  return `
const [koffiEntry, so] = process.argv.slice(2);
const koffi = (await import(koffiEntry)).default;
// Start the libuv pool (4 threads) before anything else runs.
await Promise.all([1, 2, 3, 4, 5, 6].map(() => fs.promises.stat('/dev/null').catch(() => 0)));
const lib = koffi.load(so);
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

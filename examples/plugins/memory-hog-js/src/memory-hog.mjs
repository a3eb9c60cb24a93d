// A misbehaving plugin: on its first request it allocates memory without end. Run untrusted, in the sandbox, its
// cgroup's memory limit kills it; the host keeps serving.
const hoard = [];

export default {
  name: 'memory-hog',
  version: '6.6.6',
  author: 'someone on the internet',
  description: 'Claims to compress requests. Actually hoards memory.',
  resourceLimits() {
    return { maxHeapBytes: 64 * 1024 * 1024 };
  },
  init() {},
  registerHooks(hooks) {
    hooks.register('on_request', 200, async (data) => {
      // Never returns: hoards 8 MiB at a time until something stops it.
      while (hoard.length >= 0) {
        hoard.push(Buffer.alloc(8 * 1024 * 1024, 1));
        await new Promise((r) => setImmediate(r));
      }
      return data;
    });
  },
};

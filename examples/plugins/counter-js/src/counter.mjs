// A trusted JS plugin with state: appends a running request number; runs after the greeter (priority 300).
const enc = new TextEncoder();
const dec = new TextDecoder();
let count = 0;

export default {
  name: 'counter',
  version: '0.3.1',
  author: 'Plugward examples',
  description: 'Numbers each request.',
  init() {
    count = 0;
  },
  registerHooks(hooks) {
    hooks.register('on_request', 300, (data) => {
      count++;
      return enc.encode(`${dec.decode(data)} [#${count}]`);
    });
  },
  shutdown() {},
};

import { LinuxSandbox } from '@plugward/registry';
import { formatResult, runAttackKit } from '@plugward/sandbox-testkit';

const only = process.argv.slice(2);
const results = await runAttackKit({
  backend: new LinuxSandbox(),
  only,
  onResult: (r) => console.log(formatResult(r)),
});
process.exit(results.every((r) => r.outcome === 'contained') ? 0 : 1);

import type { AttackDefinition } from '../attack.js';
import { amplifyAttacks } from './amplify.js';
import { budgetAttacks } from './budgets.js';
import { cpuAttacks } from './cpu.js';
import { descriptorAttacks } from './descriptors.js';
import { grantAttacks } from './grants.js';
import { hookAttacks } from './hooks.js';
import { hostIoAttacks } from './host-io.js';
import { identityAttacks } from './identity.js';
import { ipcAttacks } from './ipc.js';
import { kernelAttacks } from './kernel.js';
import { lifecycleAttacks } from './lifecycle.js';
import { neighbourAttacks } from './neighbours.js';
import { quotaAttacks } from './quotas.js';
import { supplyChainAttacks } from './supply-chain.js';
import { whereaboutsAttacks } from './whereabouts.js';

/** Every attack of the kit, in report order. */
export const ATTACKS: readonly AttackDefinition[] = Object.freeze([
  ...identityAttacks,
  ...grantAttacks,
  ...hostIoAttacks,
  ...quotaAttacks,
  ...lifecycleAttacks,
  ...cpuAttacks,
  ...kernelAttacks,
  ...hookAttacks,
  ...budgetAttacks,
  ...descriptorAttacks,
  ...amplifyAttacks,
  ...supplyChainAttacks,
  ...neighbourAttacks,
  ...ipcAttacks,
  ...whereaboutsAttacks,
]);

import { LinuxSandbox } from '@plugward/registry';
import { defineAttackSuite } from '../dist/vitest.js';

// Every attack of the kit must be contained by the Linux backend. An attack a change lets through again fails here
// with its evidence; if one ever has to be tolerated for a while, name it in `expectedToEscape` (each listed id is
// asserted to escape, so it can't linger after the fix).
defineAttackSuite({ backend: new LinuxSandbox(), expectedToEscape: [] });

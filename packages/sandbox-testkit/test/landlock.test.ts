import { LandlockSandbox } from '@plugward/sandbox-landlock';
import { defineAttackSuite } from '../dist/vitest.js';

// The same kit against the namespace-less backend (containers).
defineAttackSuite({ backend: new LandlockSandbox(), expectedToEscape: [] });

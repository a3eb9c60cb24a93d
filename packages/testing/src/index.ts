/**
 * @plugward/testing — test a plugin the way a host runs it: {@link testPlugin} loads an unsigned plugin under a
 * throwaway key at any isolation tier and calls its hooks, so one test file checks a plugin at all four tiers.
 * @packageDocumentation
 */

export { type TestedPlugin, type TestPluginOptions, testPlugin } from './test-plugin.js';

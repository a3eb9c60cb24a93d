/**
 * @plugward/context — PluginContext: a typed key/value store shared with plugins, with per-plugin permission views
 * and change subscriptions. No Node imports: runs in Node, browsers and workers.
 * @packageDocumentation
 */

export {
  type AnyContextKey,
  type ContextKey,
  contextKeyName,
  createContextKey,
  type PluginContextApi,
  type PredefinedContextKey,
  type TypedContextKey,
} from '@plugward/types';
export { ANY_KEY, type ContextChange, type ContextListener } from './context-change.js';
export { type ContextPermissions, PluginContextView } from './context-view.js';
export {
  type ContextQuota,
  type ContextUsage,
  DEFAULT_MAX_CONTEXT_ENTRIES,
  DEFAULT_PLUGIN_CONTEXT_BUDGET_BYTES,
  DEFAULT_PLUGIN_CONTEXT_QUOTA,
  PluginContext,
  type PluginContextOptions,
} from './plugin-context.js';

import type { HookRegistry } from '@plugward/hooks';
import {
  displayText,
  type GrantDecision,
  type HookHandler,
  type HookRegistrar,
  isPluginError,
  PluginError,
} from '@plugward/types';
import { CallBudget } from './call-budget.js';
import { checkHookGrant } from './grant-policy.js';
import { isolatedHandler } from './isolated-handler.js';

/** Handlers an untrusted plugin may have on one granted hook when its grant sets no `maxHandlers`. */
export const DEFAULT_MAX_UNTRUSTED_HANDLERS = 4;

/** What {@link pluginRegistrar} needs from the registry about one plugin. */
export interface PluginRegistrarOptions {
  name: string;
  hooks: HookRegistry;
  /** The hooks its grant allows (`'any'` for trusted plugins). */
  grantedHooks: GrantDecision['hooks'];
  /** True from the start of its load until its unload starts. */
  isOpen(): boolean;
  /** Its per-call budget, ms (read at registration). */
  budgetMs(): number;
  /** The registry's guard (in-flight count, violations, `hook-error`). */
  guard(hookName: string, handler: HookHandler): HookHandler;
  /** An isolated handler returned something other than bytes (the guard does not see that). */
  onBadReturn(hookName: string, error: PluginError): void;
}

/**
 * The registrar a plugin's `registerHooks` gets ("only what the host opened"): registrations only while the plugin is
 * loaded (none once its unload started), only on granted hooks at granted priorities (`GrantDenied` otherwise), and an
 * untrusted handler isolated so its failure is skipped rather than failing the call — unless its grant says
 * `failuresFailCall`.
 */
export function pluginRegistrar(o: PluginRegistrarOptions): HookRegistrar {
  // One per-call budget for all of the plugin's isolated handlers (per hook execution, whichever hook).
  let callBudget: CallBudget | undefined;
  return {
    register: (hookName: string, priority: number, handler: HookHandler) => {
      if (!o.isOpen()) {
        throw new PluginError(
          'GrantDenied',
          `plugin ${o.name} may not register hook ${displayText(hookName)}: it is not loaded (registrations close when its unload starts)`,
          { plugin: o.name },
        );
      }
      const grant = checkHookGrant(o.grantedHooks, o.name, hookName, priority);
      if (grant !== 'any') {
        // Every handler runs on every call: the host's cost of one call grows with them.
        const max = grant.maxHandlers ?? DEFAULT_MAX_UNTRUSTED_HANDLERS;
        const mine = o.hooks.getHooks(hookName).filter((h) => h.owner === o.name).length;
        if (mine >= max) {
          throw new PluginError(
            'QuotaExceeded',
            `plugin ${o.name} already has ${mine} handler(s) on hook ${displayText(hookName)}, the most its grant allows`,
            { plugin: o.name, details: { hookName: displayText(hookName), maxHandlers: max } },
          );
        }
      }
      const budget = o.budgetMs();
      const guarded = o.guard(hookName, handler);
      if (grant === 'any') {
        return o.hooks.register(hookName, priority, guarded, { owner: o.name, timeoutMs: budget });
      }
      // An untrusted plugin's handlers share one per-call budget; this wrapper enforces it (and the handler's own) on
      // the registry's deadline queue, so the registry's own budget (which would reject the whole call) is only a
      // backstop.
      callBudget ??= new CallBudget(budget);
      const isolate = grant.failuresFailCall !== true;
      const wrapped = isolatedHandler(
        guarded,
        budget,
        (error, kind) => {
          if (kind === 'bad-return' && isPluginError(error)) o.onBadReturn(hookName, error);
        },
        callBudget,
        { isolate, deadlines: o.hooks.deadlines },
      );
      // Its budget is added to the whole call's (budgetShareMs): untrusted plugins that each stay within their own
      // budget can't together use up the call's time and fail it for the trusted handlers (a call of n of them is
      // still bounded: the registry's budget plus theirs).
      return o.hooks.register(hookName, priority, wrapped, {
        owner: o.name,
        timeoutMs: budget + 1000,
        budgetShareMs: budget,
      });
    },
  };
}

/** A change of one context key, as subscribers receive it. `writer` is the plugin that made it (undefined: the host). */
export type ContextChange =
  | {
      readonly type: 'set';
      readonly key: string;
      readonly value: unknown;
      /** True when the key existed before; `previous` is its old value then. */
      readonly replaced: boolean;
      readonly previous: unknown;
      readonly writer: string | undefined;
    }
  | {
      readonly type: 'remove';
      readonly key: string;
      readonly previous: unknown;
      readonly writer: string | undefined;
    };

/** A change subscriber. What it throws is dropped, so one bad subscriber can't undo or block a write. */
export type ContextListener = (change: ContextChange) => void;

/** Subscribe to every key. */
export const ANY_KEY = '*';

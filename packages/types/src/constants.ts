/** Symbol a native plugin exports to create its plugin struct. */
export const PLUGIN_CONSTRUCTOR_SYMBOL = 'create_plugin';
/** Version of the C ABI in `plugward.h`; a native plugin built for another version is refused. */
export const PLUGWARD_ABI_VERSION = 1;

/** Suffix of the signed manifest beside an artifact: `libhello.so` → `libhello.so.plugward.json`. */
export const MANIFEST_SUFFIX = '.plugward.json';
/** Largest manifest accepted, bytes. Manifests are untrusted input. */
export const MAX_MANIFEST_BYTES = 64 * 1024;
/** Domain-separation prefix signed before the canonical manifest, so a signature can't be reused elsewhere. */
export const MANIFEST_SIGNATURE_DOMAIN = 'plugward/manifest/v1\0';
/** Default cap on the size of an artifact to hash and load: 256 MiB. */
export const DEFAULT_MAX_ARTIFACT_BYTES = 256 * 1024 * 1024;
/** Default maximum IPC frame, bytes. */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** Plugin names: lowercase letters, digits, `-`, `_`, `.`, optionally npm-style scoped; 1–214 characters. */
export const PLUGIN_NAME_PATTERN = /^(?:@[a-z0-9][a-z0-9._-]*\/)?[a-z0-9][a-z0-9._-]*$/;
/** Longest plugin name (npm's limit). */
export const MAX_PLUGIN_NAME_LENGTH = 214;

/** Hook priority bands. Lower runs first. */
export const HookPriority = Object.freeze({
  /** 0–99: must run first (security, validation). */
  Critical: 0,
  /** 100–199. */
  High: 100,
  /** 200–299; the default. */
  Normal: 200,
  /** 300–399. */
  Low: 300,
  /** 400 and above: cleanup, logging. */
  Cleanup: 400,
});

/** Priority of a handler registered without one. */
export const DEFAULT_HOOK_PRIORITY = HookPriority.Normal;

/** Name of the band a priority falls in. */
export function priorityBand(priority: number): keyof typeof HookPriority {
  if (priority < HookPriority.High) return 'Critical';
  if (priority < HookPriority.Normal) return 'High';
  if (priority < HookPriority.Low) return 'Normal';
  if (priority < HookPriority.Cleanup) return 'Low';
  return 'Cleanup';
}

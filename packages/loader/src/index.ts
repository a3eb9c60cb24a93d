/**
 * @plugward/loader — PluginLoader: loads verified JS/ESM plugins and native plugins (C ABI `plugward.h` through
 * koffi), only ever from the bytes that were verified.
 * @packageDocumentation
 */

export { type CompileNativeOptions, compileNativePlugin } from './compile.js';
export { plugwardHeaderPath, plugwardIncludeDir } from './header.js';
export { JsPlugin } from './js-plugin.js';
export type { LoadedPlugin, PluginMeta } from './loaded-plugin.js';
export { type LoadVerifiedOptions, loadVerified, PluginLoader, type PluginLoaderOptions } from './loader.js';
export { PwStatus, registeredCallbackCount } from './native-abi.js';
export { NativePlugin } from './native-plugin.js';
export { UntrustedPlugin } from './untrusted-plugin.js';
export type { ArtifactVerifier, VerifiedArtifact } from './verified-artifact.js';

import { describe, expect, it } from 'vitest';
import { isPluginError, PLUGIN_ERROR_CODES, PluginError, toPluginError } from './errors.js';

describe('PluginError', () => {
  it('covers every variant of the Rust API reference', () => {
    for (const code of [
      'LoadError',
      'InitializationError',
      'HookError',
      'SecurityError',
      'UntrustedPlugin',
      'AlreadyLoaded',
      'NotFound',
      'ContextError',
      'InvalidResourceLimits',
      'ResourceViolation',
      'IpcError',
      'IoError',
    ] as const) {
      expect(PLUGIN_ERROR_CODES).toContain(code);
      expect(new PluginError(code, 'x').code).toBe(code);
    }
  });

  it('keeps code, plugin, details and cause', () => {
    const cause = new Error('disk on fire');
    const e = new PluginError('IoError', 'cannot read manifest', {
      cause,
      plugin: 'hello',
      details: { path: '/x' },
    });
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('PluginError');
    expect(e.cause).toBe(cause);
    expect(e.plugin).toBe('hello');
    expect(e.details).toEqual({ path: '/x' });
    expect(e.toJSON()).toEqual({
      name: 'PluginError',
      code: 'IoError',
      message: 'cannot read manifest',
      plugin: 'hello',
      details: { path: '/x' },
    });
  });

  it('prints the code, the plugin and the cause chain', () => {
    const root = new Error('ENOENT');
    const mid = new Error('open failed', { cause: root });
    const e = new PluginError('LoadError', 'cannot load', { cause: mid, plugin: 'p' });
    expect(e.toString()).toBe(
      'PluginError [LoadError] (p): cannot load\n  caused by: Error: open failed\n  caused by: Error: ENOENT',
    );
  });

  it('refuses an unknown code', () => {
    expect(() => new PluginError('Nope' as never, 'x')).toThrow(TypeError);
  });

  it('isPluginError matches by code and rejects look-alikes', () => {
    const e = new PluginError('NotFound', 'x');
    expect(isPluginError(e)).toBe(true);
    expect(isPluginError(e, 'NotFound')).toBe(true);
    expect(isPluginError(e, 'IoError')).toBe(false);
    expect(isPluginError(new Error('x'))).toBe(false);
    expect(isPluginError({ name: 'PluginError', code: 'NotFound' })).toBe(false);
    const fake = Object.assign(new Error('x'), { name: 'PluginError', code: 'Bogus' });
    expect(isPluginError(fake)).toBe(false);
  });

  it('toPluginError wraps foreign errors and passes PluginErrors through', () => {
    const original = new PluginError('HookError', 'boom');
    expect(toPluginError(original, 'IoError', 'ctx')).toBe(original);
    const wrapped = toPluginError(new RangeError('bad'), 'IoError', 'reading file', { plugin: 'p' });
    expect(wrapped.code).toBe('IoError');
    expect(wrapped.message).toBe('reading file: bad');
    expect(wrapped.cause).toBeInstanceOf(RangeError);
    expect(toPluginError('str', 'IoError', 'x').message).toBe('x: str');
  });
});

import { describe, expect, it } from 'vitest';
import { isPluginError } from './errors.js';
import { PluginVersion } from './version.js';

describe('PluginVersion.parse', () => {
  it.each([
    ['0.0.0', [0, 0, 0]],
    ['1.2.3', [1, 2, 3]],
    ['10.20.30', [10, 20, 30]],
    ['4294967295.0.0', [4294967295, 0, 0]],
  ])('accepts %s', (input, [maj, min, pat]) => {
    const v = PluginVersion.parse(input);
    expect([v.major, v.minor, v.patch]).toEqual([maj, min, pat]);
    expect(v.toString()).toBe(input);
  });

  it('keeps pre-release and build identifiers', () => {
    const v = PluginVersion.parse('1.0.0-rc.1+build.5');
    expect(v.prerelease).toEqual(['rc', 1]);
    expect(v.build).toEqual(['build', '5']);
    expect(v.isPrerelease).toBe(true);
    expect(v.toString()).toBe('1.0.0-rc.1+build.5');
  });

  it.each([
    '1.2',
    '01.2.3',
    '1.02.3',
    '1.2.03',
    '1.2.3.4',
    'v1.2.3',
    '4294967296.0.0',
    '1.4294967296.0',
    '99999999999999999999.0.0',
    '',
    ' 1.2.3',
    '1.2.3 ',
    '1.2.3-',
    '1.2.3-01',
    '1.2.3+',
    '1.2.3-rc..1',
    '-1.2.3',
    '1.2.x',
    'x'.repeat(300),
  ])('rejects %j with InvalidVersion', (input) => {
    let caught: unknown;
    try {
      PluginVersion.parse(input);
    } catch (e) {
      caught = e;
    }
    expect(isPluginError(caught, 'InvalidVersion')).toBe(true);
    expect(PluginVersion.isValid(input)).toBe(false);
    expect(PluginVersion.tryParse(input)).toBeUndefined();
  });

  it('rejects non-strings with InvalidVersion', () => {
    expect(() => PluginVersion.parse(123 as unknown as string)).toThrow(/must be a string/);
  });

  it('rejects out-of-range components in the constructor', () => {
    expect(() => new PluginVersion(-1, 0, 0)).toThrow(/major/);
    expect(() => new PluginVersion(0, 1.5, 0)).toThrow(/minor/);
    expect(() => new PluginVersion(0, 0, 2 ** 32)).toThrow(/patch/);
  });
});

describe('PluginVersion.compare', () => {
  // semver.org section 11 precedence example, in ascending order.
  const ordered = [
    '1.0.0-alpha',
    '1.0.0-alpha.1',
    '1.0.0-alpha.beta',
    '1.0.0-beta',
    '1.0.0-beta.2',
    '1.0.0-beta.11',
    '1.0.0-rc.1',
    '1.0.0',
    '1.0.1',
    '1.1.0',
    '2.0.0',
    '10.0.0',
  ];
  it('follows semver precedence', () => {
    for (let i = 0; i < ordered.length; i++) {
      for (let j = 0; j < ordered.length; j++) {
        const got = Math.sign(PluginVersion.compare(ordered[i]!, ordered[j]!));
        expect(got, `${ordered[i]} vs ${ordered[j]}`).toBe(Math.sign(i - j));
      }
    }
  });

  it('ignores build metadata', () => {
    expect(PluginVersion.parse('1.2.3+a').equals(PluginVersion.parse('1.2.3+b'))).toBe(true);
  });

  it('sorts numerically, not lexically', () => {
    const sorted = ['1.10.0', '1.9.0', '1.2.0']
      .map((s) => PluginVersion.parse(s))
      .sort((a, b) => a.compare(b));
    expect(sorted.map(String)).toEqual(['1.2.0', '1.9.0', '1.10.0']);
  });
});
